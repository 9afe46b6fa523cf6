"""The prospects and enrollment settings tables on PostgreSQL: a mixin of PostgresStore."""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any

from policy.enrollment.prospects import Decision, Prospect, ProspectRow
from policy.scenarios.contacts import Contact
from policy.store import contacts_sql as cq
from policy.store import prospects_sql as q
from policy.store import scenarios_sql as sq


class ProspectsPg:
    if TYPE_CHECKING:  # PostgresStore's own, as for the other mixins

        def _pool(self) -> Any: ...

    @contextlib.asynccontextmanager
    async def enrollment_turn(self, tenant: str) -> AsyncIterator[bool]:
        # A session advisory lock on a connection of its own, released before the
        # connection goes back (the pool runs no reset query); a connection that cannot
        # say it released it is closed, which releases it.
        key = int.from_bytes(hashlib.sha256(f"enrollment|{tenant}".encode()).digest()[:8], "big")
        key -= 1 << 63
        async with self._pool().acquire() as conn:
            mine = bool(await conn.fetchval("SELECT pg_try_advisory_lock($1)", key))
            try:
                yield mine
            finally:
                if mine:
                    try:
                        await conn.execute("SELECT pg_advisory_unlock($1)", key)
                    except BaseException:
                        conn.terminate()
                        raise

    async def ingest_prospects(
        self, tenant: str, prospects: Sequence[Prospect], rows: Sequence[ProspectRow]
    ) -> list[str]:
        now = time.time()
        emails = [p.email for p in prospects]
        async with self._pool().acquire() as conn, conn.transaction():
            found = await conn.fetch(q.EXISTING_PG + " FOR UPDATE", tenant, emails)
            old = {r[1]: q.prospect(r) for r in found}
            answers, written, contacts, given = q.ingested(old, prospects, rows, now)
            if not written:
                return answers
            existing = await conn.fetch(cq.EXISTING_PG, tenant, [c.email for c in contacts])
            old_contacts = {r[1]: cq.contact(r) for r in existing}
            contact_answers, contact_rows = cq.upserted(old_contacts, contacts, given, now)
            await conn.executemany(cq.UPSERT_CONTACT, contact_rows)
            await conn.executemany(q.UPSERT, [q.row(p) for p in written])
        return q.answered(answers, contact_answers)

    async def prospect(self, tenant: str, email: str) -> ProspectRow | None:
        r = await self._pool().fetchrow(q.ONE, tenant, email)
        return q.prospect(r) if r is not None else None

    async def ready_prospects(
        self, tenant: str, statuses: Sequence[str], limit: int
    ) -> list[ProspectRow]:
        rows = await self._pool().fetch(q.ready(len(statuses)), tenant, *statuses, limit)
        return [q.prospect(r) for r in rows]

    async def decide_prospects(
        self, tenant: str, decisions: Sequence[Decision], now: float
    ) -> None:
        args = [
            (tenant, d.email, d.status, d.reason, d.scenario, d.attempt, now) for d in decisions
        ]
        async with self._pool().acquire() as conn, conn.transaction():
            await conn.executemany(q.DECIDE, args)

    async def prospect_counts(self, tenant: str) -> dict[str, int]:
        return {s: int(n) for s, n in await self._pool().fetch(q.COUNTS, tenant)}

    async def decided_since(self, tenant: str, status: str, since: float) -> int:
        return int(await self._pool().fetchval(q.DECIDED_SINCE, tenant, status, since) or 0)

    async def requeue_blocked(self, tenant: str, now: float) -> int:
        done = await self._pool().execute(q.REQUEUE, tenant, now)
        return int(done.rsplit(" ", 1)[-1])

    async def contacts_of(self, tenant: str, emails: Sequence[str]) -> dict[str, Contact]:
        rows = await self._pool().fetch(cq.EXISTING_PG, tenant, list(emails))
        return {r[1]: cq.contact(r) for r in rows}

    async def existing_enrollments(self, ids: Sequence[str]) -> set[str]:
        return {r[0] for r in await self._pool().fetch(q.ENROLLMENTS_PG, list(ids))}

    async def add_contact_events(
        self, tenant: str, events: Sequence[tuple[str, str, str]], at: float
    ) -> None:
        rows = [(tenant, email, kind, detail, at) for email, kind, detail in events]
        async with self._pool().acquire() as conn, conn.transaction():
            await conn.executemany(sq.ADD_CONTACT_EVENT, rows)

    async def enrollment_settings(self, tenant: str) -> str | None:
        value = await self._pool().fetchval(q.SETTINGS, tenant)
        return str(value) if value is not None else None

    async def save_enrollment_settings(
        self, tenant: str, settings: str, actor: str, now: float
    ) -> None:
        await self._pool().execute(q.SAVE_SETTINGS, tenant, settings, actor, now)
