"""SQL behind the admin surface (audit log), in PostgreSQL's $n style; sql.q() adapts it."""

from __future__ import annotations

from collections.abc import Sequence

from policy.audit import AuditEntry

AUDIT_COLUMNS = "actor, action, target, before, after, at"
INSERT_AUDIT = f"INSERT INTO audit_log ({AUDIT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)"


def audit_page(limit: int, before_id: int, actor: str, action: str) -> tuple[str, list]:
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


def where_clause(conditions: Sequence[tuple[str, object]]) -> tuple[str, list]:
    """ " WHERE a = $1 AND ..." from (template, value) pairs whose value is not None."""
    parts, args = [], []
    for template, value in conditions:
        if value is not None:
            args.append(value)
            parts.append(template.format(f"${len(args)}"))
    return (" WHERE " + " AND ".join(parts) if parts else ""), args


def audit_row(e: AuditEntry) -> tuple:
    return (e.actor, e.action, e.target, e.before, e.after, e.at)


def audit_entry(row: Sequence) -> AuditEntry:
    id_, actor, action, target, before, after, at = row
    return AuditEntry(actor, action, target, before, after, at, id_)
