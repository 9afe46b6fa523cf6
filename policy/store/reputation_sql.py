"""Statements of the reputation tables (policy.reputation), in PostgreSQL's $1 marks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from policy.reputation.confirm import HistoryEntry, Standing

STANDING_COLUMNS = (
    "target, zone, kind, status, answer, listed, streak, first_seen, last_seen, checked_at"
)
STANDINGS = f"SELECT {STANDING_COLUMNS} FROM reputation ORDER BY target, zone"
SAVE_STANDING = f"""INSERT INTO reputation ({STANDING_COLUMNS})
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
    ON CONFLICT (target, zone) DO UPDATE SET kind = excluded.kind, status = excluded.status,
    answer = excluded.answer, listed = excluded.listed, streak = excluded.streak,
    first_seen = excluded.first_seen, last_seen = excluded.last_seen,
    checked_at = excluded.checked_at"""
ADD_HISTORY = """INSERT INTO reputation_history (target, zone, event, answer, at)
    VALUES ($1, $2, $3, $4, $5)"""
HISTORY = """SELECT target, zone, event, answer, at FROM reputation_history
    WHERE ($1::text IS NULL OR target = $1) ORDER BY id DESC LIMIT $2"""
# SQLite has no ::text cast; the same filter with the argument given twice.
HISTORY_SQLITE = """SELECT target, zone, event, answer, at FROM reputation_history
    WHERE (? IS NULL OR target = ?) ORDER BY id DESC LIMIT ?"""


def standing(row: Sequence[Any]) -> Standing:
    target, zone, kind, status, answer, listed, streak, first, last, checked = row
    return Standing(target, zone, kind, status, answer, bool(listed), streak, first, last, checked)


def standing_row(s: Standing) -> tuple[Any, ...]:
    return (
        s.target, s.zone, s.kind, s.status, s.answer, s.listed, s.streak,
        s.first_seen, s.last_seen, s.checked_at,
    )  # fmt: skip


def history_row(h: HistoryEntry) -> tuple[Any, ...]:
    return (h.target, h.zone, h.event, h.answer, h.at)
