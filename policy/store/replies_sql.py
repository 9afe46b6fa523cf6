"""Statements of the replies table and the lookups a reply needs (scheduler/replies.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from policy.replies.record import ReplyRow, SentMessage

REPLY_FIELDS = (
    "key, tenant, email, scenario, step, enrollment, message_id, reply_message_id, source,"
    " sender, subject, classification, confidence, decided_by, review, return_at, detail,"
    " excerpt, received_at, updated"
)
REPLY_COLUMNS = "id, " + REPLY_FIELDS

# The expression index of migration 45 serves this lookup on both backends.
SENT_MESSAGE = """SELECT tenant, scenario, step, enrollment, email, message_id
    FROM scenario_ops_archive WHERE tenant = $1 AND substr(message_id, 1, 32) = $2
    AND kind = 'send' ORDER BY updated DESC LIMIT 1"""
ADD_REPLY = f"""INSERT INTO replies ({REPLY_FIELDS}, raw) VALUES ($1, $2, $3, $4, $5, $6, $7,
    $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)
    ON CONFLICT (key) DO NOTHING RETURNING id"""
REPLY = f"SELECT {REPLY_COLUMNS} FROM replies WHERE tenant = $1 AND id = $2"
ORIGINAL = "SELECT raw FROM replies WHERE tenant = $1 AND id = $2"
# Newest first, paged by id; review: null for all, true or false to filter.
REPLIES = f"""SELECT {REPLY_COLUMNS} FROM replies WHERE tenant = $1
    AND ($2::bigint IS NULL OR id < $2::bigint) AND ($3::boolean IS NULL OR review = $3::boolean)
    ORDER BY id DESC LIMIT $4"""
REPLIES_SQLITE = f"""SELECT {REPLY_COLUMNS} FROM replies WHERE tenant = $1
    AND ($2 IS NULL OR id < $2) AND ($3 IS NULL OR review = $3) ORDER BY id DESC LIMIT $4"""
REVIEW = """UPDATE replies SET classification = $3, decided_by = 'operator', review = FALSE,
    confidence = 1.0, updated = $4 WHERE tenant = $1 AND id = $2"""
COUNTS = """SELECT step, classification, count(*) FROM replies
    WHERE tenant = $1 AND scenario = $2 GROUP BY step, classification ORDER BY step"""
# Waiting operations only: one claimed or sending is already under way.
# A paused scenario's waiting operation keeps the delay it had left (its remaining) and
# resume adds it to the time of resuming: that delay is stretched to reach the return too.
POSTPONE = """UPDATE scenario_ops SET due = $2, updated = $3,
    remaining = CASE WHEN remaining IS NULL THEN NULL
        WHEN remaining < $2 - $3 THEN $2 - $3 ELSE remaining END
    WHERE enrollment = $1 AND status IN ('pending', 'deferred') AND due < $2"""


def sent(row: Sequence[Any]) -> SentMessage:
    return SentMessage(*row)


def reply(row: Sequence[Any]) -> ReplyRow:
    values = list(row)
    values[15] = bool(values[15])  # review: SQLite answers 0 or 1
    return ReplyRow(*values)


def reply_values(r: ReplyRow, raw: bytes) -> tuple[Any, ...]:
    return (
        r.key, r.tenant, r.email, r.scenario, r.step, r.enrollment, r.message_id,
        r.reply_message_id, r.source, r.sender, r.subject, r.classification, r.confidence,
        r.decided_by, r.review, r.return_at, r.detail, r.excerpt, r.received_at, r.updated, raw,
    )  # fmt: skip
