"""The prospects and enrollment settings tables on SQLite: a mixin of SqliteStore."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any

from policy.enrollment.prospects import Decision, Prospect, ProspectRow
from policy.scenarios.contacts import Contact
from policy.store import contacts_sql as cq
from policy.store import prospects_sql as q
from policy.store import scenarios_sql as sq
from policy.store.scenarios_sqlite import marks

CHUNK = 500  # addresses per IN (...): well under SQLite's variable limit


class ProspectsSqlite:
    if TYPE_CHECKING:  # SqliteStore's own, as for the other mixins

        def _write(self) -> Any: ...

        async def _rows(self, statement: str, *args: object) -> list[tuple[Any, ...]]: ...

    @contextlib.asynccontextmanager
    async def enrollment_turn(self, tenant: str) -> AsyncIterator[bool]:
        # One process writes a SQLite file: its own rounds are the only ones to order.
        turns: dict[str, asyncio.Lock] = self.__dict__.setdefault("_enrollment_turns", {})
        lock = turns.setdefault(tenant, asyncio.Lock())
        if lock.locked():
            yield False
            return
        async with lock:
            yield True

    async def ingest_prospects(
        self, tenant: str, prospects: Sequence[Prospect], rows: Sequence[ProspectRow]
    ) -> list[str]:
        now = time.time()
        emails = list(dict.fromkeys(p.email for p in prospects))
        async with self._write() as db:
            old = {p.email: p for p in await _fetch(db, q.existing_sqlite, tenant, emails)}
            answers, written, contacts, given = q.ingested(old, prospects, rows, now)
            if not written:
                return answers
            found = await _fetch(db, cq.existing_sqlite, tenant, [c.email for c in contacts])
            old_contacts = {c.email: c for c in found}
            contact_answers, contact_rows = cq.upserted(old_contacts, contacts, given, now)
            await db.executemany(marks(cq.UPSERT_CONTACT), contact_rows)
            await db.executemany(marks(q.UPSERT), [q.row(p) for p in written])
        return q.answered(answers, contact_answers)

    async def prospect(self, tenant: str, email: str) -> ProspectRow | None:
        rows = await self._rows(marks(q.ONE), tenant, email)
        return q.prospect(rows[0]) if rows else None

    async def ready_prospects(
        self, tenant: str, statuses: Sequence[str], limit: int
    ) -> list[ProspectRow]:
        rows = await self._rows(marks(q.ready(len(statuses))), tenant, *statuses, limit)
        return [q.prospect(r) for r in rows]

    async def decide_prospects(
        self, tenant: str, decisions: Sequence[Decision], now: float
    ) -> None:
        args = [
            (tenant, d.email, d.status, d.reason, d.scenario, d.attempt, now) for d in decisions
        ]
        async with self._write() as db:
            await db.executemany(marks(q.DECIDE), args)

    async def prospect_counts(self, tenant: str) -> dict[str, int]:
        return {s: int(n) for s, n in await self._rows(marks(q.COUNTS), tenant)}

    async def decided_since(self, tenant: str, status: str, since: float) -> int:
        rows = await self._rows(marks(q.DECIDED_SINCE), tenant, status, since)
        return int(rows[0][0]) if rows else 0

    async def requeue_blocked(self, tenant: str, now: float) -> int:
        async with self._write() as db:
            cur = await db.execute(marks(q.REQUEUE), (tenant, now))
            return int(cur.rowcount)

    async def contacts_of(self, tenant: str, emails: Sequence[str]) -> dict[str, Contact]:
        out: dict[str, Contact] = {}
        unique = list(dict.fromkeys(emails))
        for i in range(0, len(unique), CHUNK):
            chunk = unique[i : i + CHUNK]
            rows = await self._rows(marks(cq.existing_sqlite(len(chunk))), tenant, *chunk)
            out.update({r[1]: cq.contact(r) for r in rows})
        return out

    async def existing_enrollments(self, ids: Sequence[str]) -> set[str]:
        out: set[str] = set()
        unique = list(dict.fromkeys(ids))
        for i in range(0, len(unique), CHUNK):
            chunk = unique[i : i + CHUNK]
            out |= {r[0] for r in await self._rows(marks(q.enrollments_sqlite(len(chunk))), *chunk)}
        return out

    async def add_contact_events(
        self, tenant: str, events: Sequence[tuple[str, str, str]], at: float
    ) -> None:
        rows = [(tenant, email, kind, detail, at) for email, kind, detail in events]
        async with self._write() as db:
            await db.executemany(marks(sq.ADD_CONTACT_EVENT), rows)

    async def enrollment_settings(self, tenant: str) -> str | None:
        rows = await self._rows(marks(q.SETTINGS), tenant)
        return str(rows[0][0]) if rows else None

    async def save_enrollment_settings(
        self, tenant: str, settings: str, actor: str, now: float
    ) -> None:
        async with self._write() as db:
            await db.execute(marks(q.SAVE_SETTINGS), (tenant, settings, actor, now))


async def _fetch(db: Any, statement: Any, tenant: str, emails: Sequence[str]) -> list[Any]:
    """Rows of ``statement(count)`` for the emails, a chunk at a time, read by its table."""
    read = q.prospect if statement is q.existing_sqlite else cq.contact
    out = []
    for i in range(0, len(emails), CHUNK):
        chunk = list(emails[i : i + CHUNK])
        async with db.execute(marks(statement(len(chunk))), (tenant, *chunk)) as cur:
            out += [read(r) for r in await cur.fetchall()]
    return out
