"""Statements of the first-line cache and the token counts (scheduler/personalization.py)."""

from __future__ import annotations

SAVE_LINE = """INSERT INTO ai_first_lines (tenant, key, text, model, tokens, created)
    VALUES ($1, $2, $3, $4, $5, $6)
    ON CONFLICT (tenant, key) DO UPDATE SET text = excluded.text, model = excluded.model,
    tokens = excluded.tokens, created = excluded.created"""
CACHED_PG = "SELECT key, text FROM ai_first_lines WHERE tenant = $1 AND key = ANY($2::text[])"
ADD_TOKENS = """INSERT INTO ai_token_usage (tenant, day, tokens) VALUES ($1, $2, $3)
    ON CONFLICT (tenant, day) DO UPDATE SET tokens = ai_token_usage.tokens + excluded.tokens"""
TOKENS = "SELECT tokens FROM ai_token_usage WHERE tenant = $1 AND day = $2"


def cached_sqlite(count: int) -> str:
    marks = ", ".join("?" * count)
    return f"SELECT key, text FROM ai_first_lines WHERE tenant = ? AND key IN ({marks})"
