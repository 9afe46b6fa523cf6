"""Statements of the feedback tables (soft bounces, accounting files, notifications).

Written with PostgreSQL's $1 parameter marks; ``policy.store.sql.q`` turns them
into SQLite's ``?``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from policy.store import sql
from policy.suppression import Suppression

# A soft bounce is keyed by where it was read (inbox file and index, accounting
# file and offset), so reading the same input twice counts it once.
INSERT_SOFT = """INSERT INTO soft_bounces (key, tenant, address, at) VALUES ($1, $2, $3, $4)
    ON CONFLICT (key) DO NOTHING"""
COUNT_SOFT = "SELECT count(*) FROM soft_bounces WHERE tenant = $1 AND address = $2 AND at >= $3"
PRUNE_SOFT = "DELETE FROM soft_bounces WHERE at < $1"
CLAIM_FEEDBACK = "INSERT INTO feedback_applied (key, at) VALUES ($1, $2) ON CONFLICT DO NOTHING"
CLAIM_FEEDBACK_PG = """INSERT INTO feedback_applied (key, at)
    SELECT k, $2 FROM unnest($1::text[]) AS k ON CONFLICT DO NOTHING RETURNING key"""
# SQLite: the keys as one JSON array ("WHERE true" lets the upsert follow a SELECT).
CLAIM_FEEDBACK_SQLITE = """INSERT INTO feedback_applied (key, at)
    SELECT value, ? FROM json_each(?) WHERE true ON CONFLICT DO NOTHING RETURNING key"""
PRUNE_APPLIED = "DELETE FROM feedback_applied WHERE at < $1"
MEASURE_COLUMNS = "ip, provider, kind, hourly, reason, at, until"
SAVE_MEASURE = f"""INSERT INTO ip_measures ({MEASURE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)
    ON CONFLICT (ip, provider, kind) DO UPDATE SET hourly = excluded.hourly,
    reason = excluded.reason, at = excluded.at, until = excluded.until"""
MEASURES = f"SELECT {MEASURE_COLUMNS} FROM ip_measures WHERE until > $1 ORDER BY ip, provider, kind"

SUPPRESSION_ENTRY = f"{sql.ACTIVE} AND tenant = $1 AND address = $2"

ACCOUNTING_POSITION = "SELECT fingerprint, read_to FROM accounting_files WHERE file_key = $1"
SAVE_ACCOUNTING_POSITION = """INSERT INTO accounting_files
    (file_key, path, fingerprint, read_to, updated_at) VALUES ($1, $2, $3, $4, $5)
    ON CONFLICT (file_key) DO UPDATE SET path = excluded.path,
    fingerprint = excluded.fingerprint, read_to = excluded.read_to,
    updated_at = excluded.updated_at"""

# Recipients per IP, provider group and kind in [since, until): the health rates.
FEEDBACK_COUNTS = """SELECT ip, provider, kind,
    sum(length(recipients) - length(replace(recipients, ',', '')) + 1)
    FROM events WHERE at >= $1 AND at < $2 AND ip <> ''
    AND kind IN ('relayed', 'bounced', 'complained', 'delayed')
    GROUP BY ip, provider, kind"""
# The same per tenant: its complaint rate counts over every IP it sent from.
TENANT_COUNTS = """SELECT tenant, kind,
    sum(length(recipients) - length(replace(recipients, ',', '')) + 1)
    FROM events WHERE at >= $1 AND at < $2 AND tenant <> ''
    AND kind IN ('relayed', 'bounced', 'complained', 'delayed')
    GROUP BY tenant, kind"""


def suppression(row: Sequence[Any] | None) -> Suppression | None:
    return None if row is None else sql.suppression(row)


# Outgoing notifications (MailWizz, webhooks): a durable queue. A claim moves
# next_at to the end of a lease, so a sender that dies mid-post is retried later.
ENQUEUE = """INSERT INTO notifications (target, payload, attempts, next_at, created_at, last_error)
    VALUES ($1, $2, 0, $3, $4, '')"""
CLAIM_PG = """UPDATE notifications SET next_at = $1 WHERE id IN (
    SELECT id FROM notifications WHERE next_at <= $2 ORDER BY id LIMIT $3
    FOR UPDATE SKIP LOCKED) RETURNING id, target, payload, attempts"""
DUE = """SELECT id, target, payload, attempts FROM notifications
    WHERE next_at <= $1 ORDER BY id LIMIT $2"""
LEASE = "UPDATE notifications SET next_at = $1 WHERE id = $2"
FINISH = "DELETE FROM notifications WHERE id = $1"
RETRY = """UPDATE notifications SET attempts = attempts + 1, next_at = $1, last_error = $2
    WHERE id = $3"""
PENDING = "SELECT count(*) FROM notifications"

ENTRIES_PG = f"{sql.ACTIVE} AND tenant = $1 AND address = ANY($2::text[])"


def entries_sqlite(count: int) -> str:
    marks = ",".join("?" * count)
    return f"{sql.ACTIVE} AND tenant = ? AND address IN ({marks})"
