"""Statements of the scenario tables (scenarios, enrollments, the operation ledger).

Written in PostgreSQL's $1 marks; ``sql.q`` turns them into SQLite's. The
claim is one statement on both: PostgreSQL skips rows another daemon holds
(``FOR UPDATE SKIP LOCKED``), SQLite runs it inside ``BEGIN IMMEDIATE``
with one claimer at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from policy.scenarios.ledger import Enrollment, Op, Plan, ScenarioRow

SCENARIO_COLUMNS = (
    "tenant, name, version, status, definition, start_at, queue_behind, created, updated, winners"
)
ENROLLMENT_COLUMNS = (
    "id, tenant, scenario, version, email, status, step, sent_at, message_id, variants,"
    " reason, created, updated"
)
OP_FIELDS = (
    "key, tenant, scenario, version, enrollment, email, step, kind, status, due, attempts,"
    " lease_until, claimed_by, message_id, variant, reason, created, updated"
)
OP_COLUMNS = "id, " + OP_FIELDS


def _ended(status: str, reason: str, updated: str, table: str = "") -> str:
    """An operation's columns as its archive row: its final status, reason and time
    given as SQL expressions, the rest read from ``table`` (an alias, or none)."""
    given = {"status": status, "reason": reason, "updated": updated}
    return ", ".join(given.get(c, f"{table}.{c}" if table else c) for c in OP_COLUMNS.split(", "))


SCENARIO = f"SELECT {SCENARIO_COLUMNS} FROM scenarios WHERE tenant = $1 AND name = $2"
SCENARIOS = f"SELECT {SCENARIO_COLUMNS} FROM scenarios WHERE tenant = $1 ORDER BY name"
ALL_SCENARIOS = f"SELECT {SCENARIO_COLUMNS} FROM scenarios ORDER BY tenant, name"
INSERT_SCENARIO = f"""INSERT INTO scenarios ({SCENARIO_COLUMNS})
    VALUES ($1, $2, 1, 'draft', $3, $4, $5, $6, $6, '{{}}')"""
UPDATE_SCENARIO = """UPDATE scenarios SET version = version + 1, definition = $3, start_at = $4,
    queue_behind = $5, updated = $6 WHERE tenant = $1 AND name = $2 RETURNING version"""
# A draft is edited in place: no enrollment uses it yet.
UPDATE_DRAFT = """UPDATE scenarios SET definition = $3, start_at = $4, queue_behind = $5,
    updated = $6 WHERE tenant = $1 AND name = $2 AND status = 'draft' RETURNING version"""
SAVE_VERSION = """INSERT INTO scenario_versions (tenant, name, version, definition, created)
    VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant, name, version)
    DO UPDATE SET definition = excluded.definition"""
VERSION = """SELECT definition FROM scenario_versions
    WHERE tenant = $1 AND name = $2 AND version = $3"""
SET_STATUS = """UPDATE scenarios SET status = $3, updated = $4
    WHERE tenant = $1 AND name = $2 AND status = $5"""
SET_WINNERS = "UPDATE scenarios SET winners = $3, updated = $4 WHERE tenant = $1 AND name = $2"

INSERT_ENROLLMENT = f"""INSERT INTO enrollments ({ENROLLMENT_COLUMNS})
    VALUES ($1, $2, $3, $4, $5, 'active', '', 0, '', '{{}}', '', $6, $6)
    ON CONFLICT (id) DO NOTHING"""
ENROLLMENT = f"SELECT {ENROLLMENT_COLUMNS} FROM enrollments WHERE id = $1"
# Active enrollments on an older version, each with its open operation's step and status.
OLDER_ENROLLMENTS = (
    "SELECT "
    + ", ".join(f"e.{c.strip()}" for c in ENROLLMENT_COLUMNS.split(","))
    + """, coalesce(o.step, ''), coalesce(o.status, '')
    FROM enrollments e LEFT JOIN scenario_ops o ON o.enrollment = e.id
    AND o.status IN ('pending', 'claimed', 'sending', 'deferred')
    WHERE e.tenant = $1 AND e.scenario = $2 AND e.status = 'active' AND e.version <> $3
    ORDER BY e.email"""
)
ENROLLMENTS_PG = f"SELECT {ENROLLMENT_COLUMNS} FROM enrollments WHERE id = ANY($1::text[])"
# Every stop fact of a batch's contacts since the oldest enrollment, ranked as
# STOP_REASON ranks them; each operation keeps those since its own enrollment.
_STOP_FACTS = """SELECT address, 1, created_at, reason FROM suppression
    WHERE tenant IN ($1, '') AND address {any} AND NOT removed
    AND reason IN ('unsubscribe', 'hard_bounce', 'complaint') AND created_at >= $2
    UNION ALL SELECT recipient, 2, at, 'unsubscribe' FROM engagement
    WHERE tenant = $1 AND recipient {any} AND kind = 'unsubscribe' AND at >= $2
    UNION ALL SELECT email, 3, at, 'reply' FROM contact_events
    WHERE tenant = $1 AND email {any} AND kind = 'replied' AND at >= $2"""
STOP_FACTS_PG = _STOP_FACTS.format(any="= ANY($3::text[])")


def enrollments_sqlite(count: int) -> str:
    marks = ", ".join(f"${i + 1}" for i in range(count))
    return f"SELECT {ENROLLMENT_COLUMNS} FROM enrollments WHERE id IN ({marks})"


def stop_facts_sqlite(count: int) -> str:
    return _STOP_FACTS.format(any="IN (" + ", ".join(f"${i + 3}" for i in range(count)) + ")")


MIGRATE_ENROLLMENT = """UPDATE enrollments SET version = $2, updated = $3
    WHERE id = $1 AND status = 'active'"""
MIGRATE_OPS = """UPDATE scenario_ops SET version = $2, updated = $3
    WHERE enrollment = $1 AND status IN ('pending', 'deferred')"""
ENROLLMENT_SENT = """UPDATE enrollments SET step = $2, sent_at = $3, message_id = $4,
    variants = $5, updated = $3 WHERE id = $1"""
ENROLLMENT_END = """UPDATE enrollments SET status = $2, reason = $3, updated = $4
    WHERE id = $1 AND status = 'active'"""
ENROLLMENT_COUNTS = """SELECT status, count(*) FROM enrollments
    WHERE tenant = $1 AND scenario = $2 GROUP BY status"""
ENROLLED = "SELECT count(*) FROM enrollments WHERE tenant = $1 AND scenario = $2"
END_ENROLLMENTS = """UPDATE enrollments SET status = $3, reason = $4, updated = $5
    WHERE tenant = $1 AND scenario = $2 AND status = 'active'"""

# A plan is added once: neither the hot table nor the archive may hold its key.
ADD_OP = f"""INSERT INTO scenario_ops ({OP_FIELDS})
    SELECT $1, $2, $3, $4, $5, $6, $7, $8, 'pending', $9, 0, 0, '', '', $10, '', $11, $11
    WHERE NOT EXISTS (SELECT 1 FROM scenario_ops_archive WHERE key = $1)
    ON CONFLICT (key) DO NOTHING"""
# An operation is claimable while nobody holds it (``claimed_by`` empty: pending or
# deferred) and its scenario is not paused (``remaining`` null): the claim walks that
# partial index in due order and stops at the batch. Its scenario's status is read per
# row, not joined: a join let a fresh scenario, unknown to the table's statistics,
# lead the plan, which then sorted every operation of the scenario at each claim.
_CLAIMABLE = """SELECT o.id FROM scenario_ops o
    WHERE o.claimed_by = '' AND o.remaining IS NULL AND o.due <= $3
    AND (SELECT s.status FROM scenarios s WHERE s.tenant = o.tenant AND s.name = o.scenario)
        = 'active'
    ORDER BY o.due LIMIT $4"""
CLAIM_TAIL = f"""UPDATE scenario_ops SET status = 'claimed', claimed_by = $1,
    lease_until = $2, updated = $3 WHERE {{ids}} RETURNING {OP_COLUMNS}"""
# ARRAY(): the ids are found once, then each row read by its key (an IN here had
# PostgreSQL scan the whole table to join it).
CLAIM_PG = CLAIM_TAIL.format(ids=f"id = ANY(ARRAY({_CLAIMABLE} FOR UPDATE SKIP LOCKED))")
CLAIM_SQLITE = CLAIM_TAIL.format(ids=f"id IN ({_CLAIMABLE})")
# Sending rows whose process died (lease past): taken over to be resolved, never resent blind.
TAKE_ORPHANS_TAIL = f"""UPDATE scenario_ops SET claimed_by = $1, lease_until = $2, updated = $3
    WHERE {{ids}} RETURNING {OP_COLUMNS}"""
# Held rows (``claimed_by`` set) are found by their lease in a partial index.
_ORPHANS = """SELECT id FROM scenario_ops WHERE claimed_by <> '' AND status = 'sending'
    AND lease_until < $3 ORDER BY id LIMIT $4"""
TAKE_ORPHANS_PG = TAKE_ORPHANS_TAIL.format(
    ids=f"id = ANY(ARRAY({_ORPHANS} FOR UPDATE SKIP LOCKED))"
)
TAKE_ORPHANS_SQLITE = TAKE_ORPHANS_TAIL.format(ids=f"id IN ({_ORPHANS})")
REAP = """UPDATE scenario_ops SET status = 'pending', claimed_by = '', updated = $1
    WHERE claimed_by <> '' AND status = 'claimed' AND lease_until < $1"""
# "<> ''" beside "= $1": a generic plan cannot know $1 is never empty, and needs the
# words to read the held rows' index.
HEARTBEAT = """UPDATE scenario_ops SET lease_until = $2 WHERE claimed_by = $1
    AND claimed_by <> '' AND status IN ('claimed', 'sending')"""
# The mark changes no indexed column (the claim's lease stands, the heartbeat renews
# it): on PostgreSQL the new row version stays on its page, no index entry written.
MARK_SENDING = """UPDATE scenario_ops SET status = 'sending', message_id = $3, variant = $4,
    attempts = attempts + 1, updated = $5
    WHERE id = $1 AND claimed_by = $2 AND status = 'claimed'"""
MINE = """SELECT 1 FROM scenario_ops WHERE id = $1 AND claimed_by = $2
    AND status IN ('claimed', 'sending')"""
# A batch's writes, set-based: one statement for all the batch's operations, whatever
# the planner believes of the table. Rows are found by "= ANY" of their keys (an index
# scan at any size); each row's own values are read from the arrays at its key's
# position. Joining the arrays instead left the plan to the statistics of a table
# that changes faster than they do: a fresh scenario's rows looked like one, and the
# planner rescanned the arrays once per row.


def _nth(array: str, keys: str, key: str) -> str:
    """The element of ``array`` at the position of ``key`` in ``keys``."""
    return f"({array})[array_position({keys}, {key})]"


def _op(array: str, key: str = "id") -> str:
    return _nth(array, "$1::bigint[]", key)


MARK_SENDING_PG = f"""UPDATE scenario_ops SET status = 'sending',
    message_id = {_op("$2::text[]")}, variant = {_op("$3::int[]")},
    attempts = attempts + 1, updated = $4
    WHERE id = ANY($1::bigint[]) AND claimed_by = $5 AND status = 'claimed' RETURNING id"""
SET_OPS_PG = f"""UPDATE scenario_ops SET status = {_op("$2::text[]")},
    due = {_op("$3::float8[]")}, reason = {_op("$4::text[]")}, claimed_by = '', updated = $5
    WHERE id = ANY($1::bigint[]) AND claimed_by = $6 AND status IN ('claimed', 'sending')
    RETURNING id"""
_OPEN_OPS = "status IN ('pending', 'deferred', 'claimed')"
# An end in one statement (one round trip, where a transaction of five took five):
# the operations this claimer still holds leave the hot table for the archive, each
# with its end, and for those only (``IN gone``), their enrollments' sends and ends
# are written, their next operations planned, and an ended enrollment's other open
# operations archived as cancelled, each enrollment's looked up by the index
# (LATERAL: a table fresh from a bulk cancel once had its statistics read it whole).
# The CTEs share one snapshot, so none sees another's rows: ``others`` leaves out the
# ending rows ``gone`` deletes, and a plan never takes a key ``gone`` is archiving.
# The ids answer which were still held (the rest are another's now).
_CANCEL_REASON = _nth("$27::text[]", "$26::text[]", "g.enrollment")  # its enrollment's end
END_PG = f"""WITH gone AS (
        DELETE FROM scenario_ops WHERE id = ANY($1::bigint[]) AND claimed_by = $5
            AND status IN ('claimed', 'sending') RETURNING *),
    kept AS (INSERT INTO scenario_ops_archive ({OP_COLUMNS})
        SELECT {_ended(_op("$2::text[]", "g.id"), _op("$3::text[]", "g.id"), "$4", "g")}
        FROM gone g ON CONFLICT (key) DO NOTHING),
    written AS (UPDATE enrollments e SET step = coalesce(x.step, e.step),
        sent_at = coalesce(x.sent_at, e.sent_at),
        message_id = coalesce(x.message_id, e.message_id),
        variants = coalesce(x.variants, e.variants),
        status = CASE WHEN x.status IS NOT NULL AND e.status = 'active' THEN x.status
            ELSE e.status END,
        reason = CASE WHEN x.status IS NOT NULL AND e.status = 'active' THEN x.reason
            ELSE e.reason END,
        updated = CASE WHEN x.status IS NOT NULL AND e.status = 'active' THEN $4
            ELSE coalesce(x.sent_at, e.updated) END
        FROM unnest($6::bigint[], $7::text[], $8::text[], $9::float8[], $10::text[],
            $11::text[], $12::text[], $13::text[])
            AS x(op, id, step, sent_at, message_id, variants, status, reason)
        WHERE e.id = x.id AND x.op IN (SELECT id FROM gone)),
    planned AS (INSERT INTO scenario_ops ({OP_FIELDS})
        SELECT p.key, p.tenant, p.scenario, p.version, p.enrollment, p.email, p.step, p.kind,
            'pending', p.due, 0, 0, '', '', p.variant, '', $4, $4
        FROM unnest($14::bigint[], $15::text[], $16::text[], $17::text[], $18::int[],
            $19::text[], $20::text[], $21::text[], $22::text[], $23::float8[], $24::int[])
            AS p(op, key, tenant, scenario, version, enrollment, email, step, kind, due, variant)
        WHERE p.op IN (SELECT id FROM gone) AND p.key NOT IN (SELECT key FROM gone)
            AND p.key <> ALL (ARRAY(
            SELECT a.key FROM scenario_ops_archive a WHERE a.key = ANY($15::text[])))
        ON CONFLICT (key) DO NOTHING),
    others AS (DELETE FROM scenario_ops WHERE id = ANY(ARRAY(
            SELECT o.id FROM unnest($25::bigint[], $26::text[]) AS x(op, enrollment)
            CROSS JOIN LATERAL (SELECT id FROM scenario_ops
                WHERE enrollment = x.enrollment AND {_OPEN_OPS}) AS o
            WHERE x.op IN (SELECT id FROM gone)))
        AND id <> ALL($1::bigint[]) RETURNING *),
    cancelled AS (INSERT INTO scenario_ops_archive ({OP_COLUMNS})
        SELECT {_ended("'cancelled'", _CANCEL_REASON, "$4", "g")}
        FROM others g ON CONFLICT (key) DO NOTHING)
    SELECT id FROM gone"""
SET_OP = """UPDATE scenario_ops SET status = $3, due = $4, reason = $5, claimed_by = '',
    updated = $6 WHERE id = $1 AND claimed_by = $2 AND status IN ('claimed', 'sending')"""
ARCHIVE_OP = f"""INSERT INTO scenario_ops_archive ({OP_COLUMNS})
    SELECT {_ended("$2", "$3", "$4")} FROM scenario_ops WHERE id = $1
    ON CONFLICT (key) DO NOTHING"""
DELETE_OP = "DELETE FROM scenario_ops WHERE id = $1"


def _cancelled(where: str, reason: str, updated: str) -> tuple[str, str]:
    """Open operations matching ``where`` moved to the archive as cancelled: a cancelled
    scenario's hundred thousand rows do not stay in the table every claim reads."""
    ended = _ended("'cancelled'", reason, updated)
    return (
        f"""INSERT INTO scenario_ops_archive ({OP_COLUMNS}) SELECT {ended} FROM scenario_ops
        WHERE {where} AND {_OPEN_OPS} ON CONFLICT (key) DO NOTHING""",
        f"DELETE FROM scenario_ops WHERE {where} AND {_OPEN_OPS}",
    )


CANCEL_OPS = _cancelled("enrollment = $1", "$2", "$3")
CANCEL_SCENARIO_OPS = _cancelled("tenant = $1 AND scenario = $2", "$3", "$4")
# Pause freezes each waiting operation's remaining delay; resume restores it. Held (a
# default scenario while another runs) is a pause the engine makes and ends itself.
FROZEN = ("paused", "held")
FREEZE = """UPDATE scenario_ops SET remaining = CASE WHEN due > $3 THEN due - $3 ELSE 0 END
    WHERE tenant = $1 AND scenario = $2 AND status IN ('pending', 'deferred')"""
THAW = """UPDATE scenario_ops SET due = $3 + remaining, remaining = NULL
    WHERE tenant = $1 AND scenario = $2 AND remaining IS NOT NULL"""
OPEN_OPS = """SELECT count(*) FROM scenario_ops WHERE tenant = $1 AND scenario = $2
    AND status IN ('pending', 'claimed', 'sending', 'deferred')"""
OP_COUNTS = """SELECT step, variant, status, count(*) FROM (
    SELECT step, variant, status FROM scenario_ops WHERE tenant = $1 AND scenario = $2
    UNION ALL
    SELECT step, variant, status FROM scenario_ops_archive WHERE tenant = $1 AND scenario = $2
    ) AS o GROUP BY step, variant, status"""
DUE_STATS = """SELECT count(*), min(due) FROM scenario_ops
    WHERE claimed_by = '' AND remaining IS NULL AND due <= $1"""

# Facts the engine decides from, all read from the store (never from memory).
RELAYED = """SELECT kind FROM events WHERE message_id IN ($1, $2) AND tenant = $3
    ORDER BY id DESC LIMIT 1"""
HUMAN_EVENTS = """SELECT kind, at, classification, url FROM engagement
    WHERE tenant = $1 AND message_id IN ($2, $3) AND recipient = $4
    AND kind IN ('open', 'click') ORDER BY at"""
LAST_SEND = """SELECT max(updated) FROM scenario_ops_archive
    WHERE tenant = $1 AND email = $2 AND kind = 'send' AND status = 'executed'"""
SENDS_SINCE = """SELECT count(*), max(updated) FROM scenario_ops_archive
    WHERE tenant = $1 AND scenario = $2 AND kind = 'send' AND status = 'executed'
    AND updated >= $3"""
LAST_SCENARIO_SEND = """SELECT max(updated) FROM scenario_ops_archive
    WHERE tenant = $1 AND scenario = $2 AND kind = 'send' AND status = 'executed'"""
# The first stop rule that applies since the enrollment, in one round trip: a
# suppression (unsubscribe, hard bounce, complaint), a recorded unsubscribe click, a reply.
STOP_REASON = """SELECT reason FROM (
    SELECT 1 AS rank, reason FROM (SELECT reason FROM suppression
        WHERE tenant IN ($1, '') AND address = $2 AND NOT removed
        AND reason IN ('unsubscribe', 'hard_bounce', 'complaint') AND created_at >= $3
        ORDER BY created_at LIMIT 1) AS s
    UNION ALL SELECT 2, 'unsubscribe' FROM (SELECT 1 AS x FROM engagement
        WHERE tenant = $1 AND recipient = $2 AND kind = 'unsubscribe' AND at >= $3 LIMIT 1) AS g
    UNION ALL SELECT 3, 'reply' FROM (SELECT 1 AS x FROM contact_events
        WHERE tenant = $1 AND email = $2 AND kind = 'replied' AND at >= $3 LIMIT 1) AS c
    ) AS found ORDER BY rank LIMIT 1"""
# Per variant of a step: executed sends, and those with a human open (a click counts) or click.
VARIANT_ENGAGEMENT = """SELECT o.variant, count(DISTINCT o.id),
    count(DISTINCT CASE WHEN g.kind IS NOT NULL THEN o.id END),
    count(DISTINCT CASE WHEN g.kind = 'click' THEN o.id END)
    FROM scenario_ops_archive o LEFT JOIN engagement g ON g.tenant = o.tenant
    AND g.message_id IN (o.message_id, '<' || o.message_id || '>') AND g.recipient = o.email
    AND g.classification = 'human' AND g.kind IN ('open', 'click')
    WHERE o.tenant = $1 AND o.scenario = $2 AND o.step = $3 AND o.kind = 'send'
    AND o.status = 'executed' GROUP BY o.variant ORDER BY o.variant"""
ADD_CONTACT_EVENT = """INSERT INTO contact_events (tenant, email, kind, detail, at)
    VALUES ($1, $2, $3, $4, $5)"""


def scenario(row: Sequence[Any]) -> ScenarioRow:
    return ScenarioRow(*row)


def enrollment(row: Sequence[Any]) -> Enrollment:
    return Enrollment(*row)


def op(row: Sequence[Any]) -> Op:
    return Op(*row)


def plan_row(p: Plan, now: float) -> tuple[Any, ...]:
    return (
        p.key, p.tenant, p.scenario, p.version, p.enrollment, p.email, p.step, p.kind,
        p.due, p.variant, now,
    )  # fmt: skip
