"""The policy tables' statements, shared by both stores, and rows <-> records.

Written with PostgreSQL's $1 parameters; `q` turns them into SQLite's
``?`` (every statement here uses its parameters in order).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from policy.quota.ipstate import IpRecord
from policy.quota.states import IpState, Transition
from policy.suppression import Removal, Suppression
from policy.switches import Switch


def q(statement: str) -> str:
    return re.sub(r"\$\d+", "?", statement)


# Recipients per kind of event for one IP in a window: a message to three
# recipients took three units of quota. Recipients are stored comma-joined.
RECIPIENTS = "sum(length(recipients) - length(replace(recipients, ',', '')) + 1)"
DAY_COUNTS = f"""SELECT kind, {RECIPIENTS}
    FROM events WHERE ip = $1 AND at >= $2 AND at < $3 AND NOT dry_run GROUP BY kind"""
PROVIDER_COUNTS = f"""SELECT provider, {RECIPIENTS}
    FROM events WHERE ip = $1 AND at >= $2 AND at < $3 AND NOT dry_run
    AND kind IN ('relayed', 'possible_duplicate') GROUP BY provider"""
# Recipients per tenant, kind and provider group in a window: the status page's volumes.
TENANT_VOLUMES = f"""SELECT tenant, kind, provider, {RECIPIENTS}
    FROM events WHERE at >= $1 AND at < $2 AND NOT dry_run GROUP BY tenant, kind, provider"""
LAST_SENT = "SELECT max(at) FROM events WHERE ip = $1 AND kind = 'relayed' AND NOT dry_run"

SUPPRESS = """INSERT INTO suppression
    (tenant, address, reason, source, created_at, expires_at, removed, seq)
    VALUES ($1, $2, $3, $4, $5, $6, FALSE, $7)
    ON CONFLICT (tenant, address) DO UPDATE SET reason = excluded.reason,
    source = excluded.source, created_at = excluded.created_at,
    expires_at = excluded.expires_at, removed = FALSE, seq = excluded.seq"""
LAST_SEQ = "SELECT coalesce(max(seq), 0) FROM suppression"
UNSUPPRESS = """UPDATE suppression SET removed = TRUE, seq = $1
    WHERE tenant = $2 AND address = $3 AND NOT removed"""
COLUMNS = "tenant, address, reason, source, created_at, expires_at"
CHANGES = f"SELECT seq, removed, {COLUMNS} FROM suppression WHERE seq > $1 ORDER BY seq LIMIT $2"
ACTIVE = f"SELECT {COLUMNS} FROM suppression WHERE NOT removed"

SET_SWITCH = """INSERT INTO switches (kind, target, reason, actor, at) VALUES ($1, $2, $3, $4, $5)
    ON CONFLICT (kind, target) DO UPDATE SET reason = excluded.reason,
    actor = excluded.actor, at = excluded.at"""
CLEAR_SWITCH = "DELETE FROM switches WHERE kind = $1 AND target = $2"
SWITCHES = "SELECT kind, target, reason, actor, at FROM switches ORDER BY kind, target"

IP_COLUMNS = "ip, state, day, as_of, previous, updated_at, schedule"
IP_STATES = f"SELECT {IP_COLUMNS} FROM ip_state"
INSERT_IP = f"""INSERT INTO ip_state ({IP_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)
    ON CONFLICT (ip) DO NOTHING"""
# Compare-and-set: the write applies only to the record the caller read.
UPDATE_IP = """UPDATE ip_state SET ip = $1, state = $2, day = $3, as_of = $4, previous = $5,
    updated_at = $6, schedule = $7 WHERE ip = $8 AND state = $9 AND day = $10 AND as_of = $11
    AND updated_at = $12"""
INSERT_TRANSITION = """INSERT INTO ip_transitions
    (ip, from_state, to_state, from_day, to_day, reason, actor, at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"""
HISTORY = """SELECT ip, from_state, to_state, from_day, to_day, reason, actor, at
    FROM ip_transitions WHERE ip = $1 ORDER BY at DESC, id DESC LIMIT $2"""


def suppress_rows(entries: Sequence[Suppression], last_seq: int) -> list[tuple[Any, ...]]:
    return [
        (e.tenant, e.address, e.reason, e.source, e.created_at, e.expires_at, last_seq + i)
        for i, e in enumerate(entries, 1)
    ]


def suppression(row: Sequence[Any]) -> Suppression:
    tenant, address, reason, source, created_at, expires_at = row
    return Suppression(tenant, address, reason, source, created_at, expires_at)


def change(row: Sequence[Any]) -> tuple[int, Suppression | Removal]:
    seq, removed, *rest = row
    if removed:
        return seq, Removal(rest[0], rest[1])
    return seq, suppression(rest)


def switch_row(s: Switch) -> tuple[Any, ...]:
    return (s.kind, s.target, s.reason, s.actor, s.at)


def ip_row(r: IpRecord) -> tuple[Any, ...]:
    previous = r.previous.value if r.previous is not None else None
    return (r.ip, r.state.value, r.day, r.as_of, previous, r.updated_at, r.schedule)


def ip_match(r: IpRecord) -> tuple[Any, ...]:
    return (r.ip, r.state.value, r.day, r.as_of, r.updated_at)


def ip_record(row: Sequence[Any]) -> IpRecord:
    ip, state, day, as_of, previous, updated_at, schedule = row
    return IpRecord(
        ip, IpState(state), day, as_of, IpState(previous) if previous else None, updated_at,
        schedule,
    )  # fmt: skip


def transition_row(t: Transition) -> tuple[Any, ...]:
    return (
        t.ip,
        t.from_state.value,
        t.to_state.value,
        t.from_day,
        t.to_day,
        t.reason,
        t.actor,
        t.at.timestamp(),
    )


def transition(row: Sequence[Any]) -> Transition:
    ip, from_state, to_state, from_day, to_day, reason, actor, at = row
    return Transition(
        ip=ip,
        from_state=IpState(from_state),
        to_state=IpState(to_state),
        reason=reason,
        actor=actor,
        at=datetime.fromtimestamp(at, UTC),
        from_day=from_day,
        to_day=to_day,
    )
