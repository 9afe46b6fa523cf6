"""Statements of the prospects and enrollment settings tables, in PostgreSQL's $1 marks.

``ingested`` is the one plan both backends follow inside their transaction: a
prospect whose fingerprint is unchanged writes nothing (neither its row nor its
contact), so a batch posted twice changes nothing the second time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from policy.enrollment.prospects import Prospect, ProspectRow, merge
from policy.scenarios.contacts import Contact

COLUMNS = (
    "tenant, email, site, source, fingerprint, mx, role, disposable, status, reason, scenario,"
    " attempts, created, updated, decided"
)
_UPDATED = (
    "site", "source", "fingerprint", "mx", "role", "disposable", "status", "reason", "scenario",
    "attempts", "updated", "decided",
)  # fmt: skip
UPSERT = f"""INSERT INTO prospects ({COLUMNS}) VALUES
    ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
    ON CONFLICT (tenant, email) DO UPDATE SET
    {", ".join(f"{c} = excluded.{c}" for c in _UPDATED)}"""
ONE = f"SELECT {COLUMNS} FROM prospects WHERE tenant = $1 AND email = $2"
EXISTING_PG = f"SELECT {COLUMNS} FROM prospects WHERE tenant = $1 AND email = ANY($2::text[])"
DECIDE = """UPDATE prospects SET status = $3, reason = $4, scenario = $5,
    attempts = attempts + $6, decided = $7 WHERE tenant = $1 AND email = $2"""
COUNTS = "SELECT status, count(*) FROM prospects WHERE tenant = $1 GROUP BY status"
DECIDED_SINCE = """SELECT count(*) FROM prospects
    WHERE tenant = $1 AND status = $2 AND decided >= $3"""
REQUEUE = """UPDATE prospects SET status = 'ready', reason = '', updated = $2
    WHERE tenant = $1 AND status = 'blocked'"""
ENROLLMENTS_PG = "SELECT id FROM enrollments WHERE id = ANY($1::text[])"
SETTINGS = "SELECT settings FROM enrollment_settings WHERE tenant = $1"
SAVE_SETTINGS = """INSERT INTO enrollment_settings (tenant, settings, actor, updated)
    VALUES ($1, $2, $3, $4) ON CONFLICT (tenant) DO UPDATE SET settings = excluded.settings,
    actor = excluded.actor, updated = excluded.updated"""


def ready(count: int) -> str:
    """The oldest prospects in one of ``count`` statuses ($2...), at most $<count+2>."""
    marks = ", ".join(f"${i + 2}" for i in range(count))
    return (
        f"SELECT {COLUMNS} FROM prospects WHERE tenant = $1 AND status IN ({marks})"
        f" ORDER BY created, email LIMIT ${count + 2}"
    )


def existing_sqlite(count: int) -> str:
    marks = ", ".join(f"${i + 2}" for i in range(count))
    return f"SELECT {COLUMNS} FROM prospects WHERE tenant = $1 AND email IN ({marks})"


def enrollments_sqlite(count: int) -> str:
    return (
        f"SELECT id FROM enrollments WHERE id IN ({', '.join(f'${i + 1}' for i in range(count))})"
    )


def row(p: ProspectRow) -> tuple[Any, ...]:
    return (
        p.tenant, p.email, p.site, p.source, p.fingerprint, p.mx, p.role, p.disposable,
        p.status, p.reason, p.scenario, p.attempts, p.created, p.updated, p.decided,
    )  # fmt: skip


def prospect(r: Sequence[Any]) -> ProspectRow:
    (tenant, email, site, source, fp, mx, role, disposable, status, reason, scenario, attempts,
     created, updated, decided) = r  # fmt: skip
    return ProspectRow(
        tenant, email, site, source, fp, mx, bool(role), bool(disposable), status, reason,
        scenario, int(attempts), created, updated, decided,
    )  # fmt: skip


def ingested(
    old: dict[str, ProspectRow], prospects: Sequence[Prospect], rows: Sequence[ProspectRow],
    now: float,
) -> tuple[list[str], list[ProspectRow], list[Contact], list[frozenset[str]]]:  # fmt: skip
    """Each prospect's answer, and the prospect rows and contacts (with their given
    fields) to write: none for an unchanged one."""
    answers, written, contacts, given = [], [], [], []
    for p, new in zip(prospects, rows, strict=True):
        answer, kept = merge(old.get(p.email), new, now)
        answers.append(answer)
        if answer != "unchanged":
            written.append(kept)
            contacts.append(p.contact)
            given.append(p.given)
    return answers, written, contacts, given


def answered(answers: list[str], contact_answers: list[str]) -> list[str]:
    """A new prospect of a contact that existed already is ``updated``, not ``created``."""
    it = iter(contact_answers)
    out = []
    for a in answers:
        if a == "unchanged":
            out.append(a)
            continue
        c = next(it)
        out.append("updated" if a == "created" and c == "updated" else a)
    return out
