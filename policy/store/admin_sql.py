"""SQL behind the admin surface (audit log, lists), in PostgreSQL's $n style; sql.q() adapts it."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from policy.audit import AuditEntry
from policy.engagement import COLUMNS as ENGAGEMENT_COLUMNS
from policy.store import sql
from policy.store.schema import EVENT_COLUMNS

AUDIT_COLUMNS = "actor, action, target, before, after, at"
INSERT_AUDIT = f"INSERT INTO audit_log ({AUDIT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)"


def audit_page(limit: int, before_id: int, actor: str, action: str) -> tuple[str, list[Any]]:
    """Newest first; the cursor is the last id seen (0: from the newest)."""
    where, args = where_clause(
        [
            ("id < {}", before_id or None),
            ("actor = {}", actor or None),
            ("action = {}", action or None),
        ]
    )
    args.append(limit)
    query = f"SELECT id, {AUDIT_COLUMNS} FROM audit_log{where} ORDER BY id DESC LIMIT ${len(args)}"
    return query, args


def where_clause(conditions: Sequence[tuple[str, object]]) -> tuple[str, list[Any]]:
    """ " WHERE a = $1 AND ..." from (template, value) pairs whose value is not None."""
    parts, args = [], []
    for template, value in conditions:
        if value is not None:
            args.append(value)
            parts.append(template.format(f"${len(args)}"))
    return (" WHERE " + " AND ".join(parts) if parts else ""), args


def audit_row(e: AuditEntry) -> tuple[Any, ...]:
    return (e.actor, e.action, e.target, e.before, e.after, e.at)


def audit_entry(row: Sequence[Any]) -> AuditEntry:
    id_, actor, action, target, before, after, at = row
    return AuditEntry(actor, action, target, before, after, at, id_)


# -- lists: suppression, events, engagement, feedback statistics ---------------
#
# Keyset pages, never OFFSET: a page starts after the last key the previous
# one ended on, so rows written between two requests neither repeat nor shift
# the walk. ``find`` is the backend's substring position function (SQLite
# ``instr``, PostgreSQL ``strpos``): a position test needs no escaping of
# LIKE's wildcards, and ``_`` and ``%`` are legal in addresses.

SQLITE_FIND, PG_FIND = "instr", "strpos"


@dataclass(frozen=True)
class SuppressionFilter:
    tenant: str | None = None  # None: every list; "": the global list
    reason: str | None = None
    source: str | None = None  # a prefix: "dsn" matches "dsn:userunknown"
    q: str | None = None  # a substring of the address (addresses are stored lowercased)
    since: float | None = None  # created_at >= since
    until: float | None = None  # created_at < until


@dataclass(frozen=True)
class EventFilter:
    tenant: str | None = None
    kinds: tuple[str, ...] = ()
    recipient: str | None = None  # one whole element of the comma-joined recipients
    job: str | None = None
    ip: str | None = None
    since: float | None = None
    until: float | None = None


@dataclass(frozen=True)
class EngagementFilter:
    tenant: str | None = None
    kinds: tuple[str, ...] = ()
    recipient: str | None = None
    job: str | None = None
    classification: str | None = None
    since: float | None = None
    until: float | None = None


def conditions(
    pairs: Sequence[tuple[str, object]], fixed: Sequence[str] = ()
) -> tuple[str, list[Any]]:
    """``where_clause`` with conditions that always hold (``fixed``), and tuple values
    that fill ``{}`` with one mark per element (``kind IN ({})``); () is left out."""
    parts, args = list(fixed), []
    for template, value in pairs:
        if value is None or value == ():
            continue
        marks = []
        for v in value if isinstance(value, tuple) else (value,):
            args.append(v)
            marks.append(f"${len(args)}")
        parts.append(template.format(", ".join(marks)))
    return (" WHERE " + " AND ".join(parts) if parts else ""), args


def suppression_page(
    f: SuppressionFilter, after: tuple[str, str] | None, limit: int | None, find: str
) -> tuple[str, list[Any]]:
    """Live entries in (tenant, address) order after ``after``; all of them with limit None."""
    where, args = conditions(
        [
            ("tenant = {}", f.tenant),
            ("reason = {}", f.reason),
            (find + "(source, {}) = 1", f.source or None),
            (find + "(address, {}) > 0", f.q.lower() if f.q else None),
            ("created_at >= {}", f.since),
            ("created_at < {}", f.until),
            ("(tenant, address) > ({})", after),
        ],
        fixed=["NOT removed"],
    )
    query = f"SELECT {sql.COLUMNS} FROM suppression{where} ORDER BY tenant, address"
    if limit is not None:
        args.append(limit)
        query += f" LIMIT ${len(args)}"
    return query, args


def _element(column: str, find: str) -> str:
    # Recipients are stored comma-joined: fenced with commas on both sides,
    # a@x.com is found as a whole element only, never inside ba@x.com.
    return f"{find}(',' || lower({column}) || ',', {{}}) > 0"


def event_page(f: EventFilter, before_id: int, limit: int, find: str) -> tuple[str, list[Any]]:
    """Newest first; the cursor is the last id seen (0: from the newest)."""
    where, args = conditions(
        [
            ("id < {}", before_id or None),
            ("tenant = {}", f.tenant),
            ("kind IN ({})", tuple(f.kinds)),
            (_element("recipients", find), f",{f.recipient.lower()}," if f.recipient else None),
            ("job = {}", f.job),
            ("ip = {}", f.ip),
            ("at >= {}", f.since),
            ("at < {}", f.until),
        ]
    )
    args.append(limit)
    columns = ", ".join(EVENT_COLUMNS)
    return f"SELECT id, {columns} FROM events{where} ORDER BY id DESC LIMIT ${len(args)}", args


def event_dict(row: Sequence[Any]) -> dict[str, Any]:
    out = dict(zip(("id", *EVENT_COLUMNS), row, strict=True))
    out["recipients"] = out["recipients"].split(",") if out["recipients"] else []
    out["dry_run"] = bool(out["dry_run"])
    out["detail"] = _detail(out.get("detail") or "")
    return out


def _detail(text: str) -> dict[str, Any]:
    """The event's JSON detail (the bounce rule and its evidence), or {}."""
    try:
        value = json.loads(text) if text else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def engagement_page(f: EngagementFilter, before_id: int, limit: int) -> tuple[str, list[Any]]:
    """Newest first, like ``event_page``."""
    where, args = conditions(
        [
            ("id < {}", before_id or None),
            ("tenant = {}", f.tenant),
            ("kind IN ({})", tuple(f.kinds)),
            ("lower(recipient) = {}", f.recipient.lower() if f.recipient else None),
            ("job = {}", f.job),
            ("classification = {}", f.classification),
            ("at >= {}", f.since),
            ("at < {}", f.until),
        ]
    )
    args.append(limit)
    columns = ", ".join(ENGAGEMENT_COLUMNS)
    return f"SELECT id, {columns} FROM engagement{where} ORDER BY id DESC LIMIT ${len(args)}", args


def engagement_dict(row: Sequence[Any]) -> dict[str, Any]:
    out = dict(zip(("id", *ENGAGEMENT_COLUMNS), row, strict=True))
    out["first_open"] = bool(out["first_open"])
    return out


def feedback_breakdown(since: float, until: float, tenant: str | None) -> tuple[str, list[Any]]:
    """Recipients per (kind, ip, provider, reply) in [since, until): relayed (dry runs
    left out), bounced, complained. A feedback event's reply is "<status> <reason>"
    (policy.feedback.decision.event), so its reason survives the grouping; a relay's reply
    is dropped from the key."""
    where, args = conditions(
        [("at >= {}", since), ("at < {}", until), ("tenant = {}", tenant)],
        fixed=["(kind IN ('bounced', 'complained') OR (kind = 'relayed' AND NOT dry_run))"],
    )
    recipients = "sum(length(recipients) - length(replace(recipients, ',', '')) + 1)"
    reply = "CASE WHEN kind = 'relayed' THEN '' ELSE reply END"
    return (
        f"SELECT kind, ip, provider, {reply}, {recipients} FROM events{where} GROUP BY 1, 2, 3, 4",
        args,
    )
