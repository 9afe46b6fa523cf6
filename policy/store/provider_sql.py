"""Statements of the provider feedback table (policy.reputation.provider_feedback), $1 marks."""

from __future__ import annotations

COLUMNS = "source, target, day, status, detail, fetched_at"
SAVE = f"""INSERT INTO provider_feedback ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)
    ON CONFLICT (source, target) DO UPDATE SET day = excluded.day, status = excluded.status,
    detail = excluded.detail, fetched_at = excluded.fetched_at"""
ALL = f"SELECT {COLUMNS} FROM provider_feedback ORDER BY source, target"
