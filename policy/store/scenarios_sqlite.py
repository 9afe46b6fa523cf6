"""The scenario tables on SQLite: a mixin of SqliteStore (one claimer, BEGIN IMMEDIATE)."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from policy.scenarios.ledger import Enrollment, Op, Plan, ScenarioRow
from policy.store import scenarios_sql as q

_MARK = re.compile(r"\$(\d+)")
CHUNK = 500  # addresses per IN (...): numbered marks, so three lists use 502 variables


def marks(statement: str) -> str:
    """SQLite's numbered marks (``?3``): a statement may use one argument twice."""
    return _MARK.sub(r"?\1", statement)


if TYPE_CHECKING:
    import aiosqlite

    from policy.store.scenario_store import Completion, Mark, Release


async def _all(db: aiosqlite.Connection, statement: str, *args: Any) -> list[Any]:
    async with db.execute(marks(statement), args) as cur:
        return list(await cur.fetchall())


async def _count(db: aiosqlite.Connection, statement: str, *args: Any) -> int:
    async with db.execute(marks(statement), args) as cur:
        await cur.fetchall()  # a RETURNING statement's rows
        return cur.rowcount


async def _complete(db: aiosqlite.Connection, c: Completion, now: float) -> bool:
    if not await _all(db, q.MINE, c.op.id, c.claimer):
        return False
    await _count(db, q.ARCHIVE_OP, c.op.id, c.status, c.reason, now)
    await _count(db, q.DELETE_OP, c.op.id)
    if c.sent is not None:
        await _count(db, q.ENROLLMENT_SENT, c.op.enrollment, *c.sent)
    for p in c.plans:
        await _count(db, q.ADD_OP, *q.plan_row(p, now))
    if c.end is not None:
        await _count(db, q.ENROLLMENT_END, c.op.enrollment, c.end[0], c.end[1], now)
        archive, delete = q.CANCEL_OPS
        await _count(db, archive, c.op.enrollment, c.end[1], now)
        await _count(db, delete, c.op.enrollment)
    return True


class SqliteScenarios:
    if TYPE_CHECKING:

        def _write(self) -> contextlib.AbstractAsyncContextManager[aiosqlite.Connection]: ...

        async def _rows(self, sql: str, *args: object) -> list[tuple[Any, ...]]: ...

    async def _one(self, statement: str, *args: Any) -> Any:
        rows = await self._rows(marks(statement), *args)
        return rows[0][0] if rows else None

    async def save_scenario(
        self, tenant: str, name: str, definition: str, start_at: float | None,
        queue_behind: str | None, now: float,
    ) -> int:  # fmt: skip
        args = (tenant, name, definition, start_at, queue_behind, now)
        async with self._write() as db:
            rows = await _all(db, q.UPDATE_DRAFT, *args) or await _all(db, q.UPDATE_SCENARIO, *args)
            version = rows[0][0] if rows else 1
            if not rows:
                await _count(db, q.INSERT_SCENARIO, *args)
            await _count(db, q.SAVE_VERSION, tenant, name, version, definition, now)
            return int(version)

    async def scenario(self, tenant: str, name: str) -> ScenarioRow | None:
        rows = await self._rows(marks(q.SCENARIO), tenant, name)
        return q.scenario(rows[0]) if rows else None

    async def scenarios(self, tenant: str | None = None) -> list[ScenarioRow]:
        if tenant is None:
            return [q.scenario(r) for r in await self._rows(q.ALL_SCENARIOS)]
        return [q.scenario(r) for r in await self._rows(marks(q.SCENARIOS), tenant)]

    async def scenario_definition(self, tenant: str, name: str, version: int) -> str | None:
        value: str | None = await self._one(q.VERSION, tenant, name, version)
        return value

    async def set_scenario_status(
        self, tenant: str, name: str, to: str, expect: str, now: float
    ) -> bool:
        async with self._write() as db:
            if await _count(db, q.SET_STATUS, tenant, name, to, now, expect) != 1:
                return False
            if to in q.FROZEN and expect not in q.FROZEN:
                await _count(db, q.FREEZE, tenant, name, now)
            elif expect in q.FROZEN and to == "active":
                await _count(db, q.THAW, tenant, name, now)
            elif to == "cancelled":
                archive, delete = q.CANCEL_SCENARIO_OPS
                await _count(db, archive, tenant, name, "scenario cancelled", now)
                await _count(db, delete, tenant, name)
                await _count(
                    db, q.END_ENROLLMENTS, tenant, name, "cancelled", "scenario cancelled", now
                )
            return True

    async def set_winners(self, tenant: str, name: str, winners: str, now: float) -> None:
        async with self._write() as db:
            await _count(db, q.SET_WINNERS, tenant, name, winners, now)

    async def enroll(self, plans: Sequence[Plan], now: float) -> list[bool]:
        created = []
        async with self._write() as db:
            for p in plans:
                row = (p.enrollment, p.tenant, p.scenario, p.version, p.email, now)
                fresh = await _count(db, q.INSERT_ENROLLMENT, *row) == 1
                if fresh:
                    await _count(db, q.ADD_OP, *q.plan_row(p, now))
                created.append(fresh)
        return created

    async def enrollment(self, enrollment_id: str) -> Enrollment | None:
        rows = await self._rows(marks(q.ENROLLMENT), enrollment_id)
        return q.enrollment(rows[0]) if rows else None

    async def enrollments(self, ids: Sequence[str]) -> dict[str, Enrollment]:
        out: dict[str, Enrollment] = {}
        unique = list(dict.fromkeys(ids))
        for i in range(0, len(unique), CHUNK):
            chunk = unique[i : i + CHUNK]
            rows = await self._rows(marks(q.enrollments_sqlite(len(chunk))), *chunk)
            out.update({r[0]: q.enrollment(r) for r in rows})
        return out

    async def stop_facts(
        self, tenant: str, emails: Sequence[str], since: float
    ) -> list[tuple[str, int, float, str]]:
        out: list[tuple[str, int, float, str]] = []
        unique = sorted(set(emails))
        for i in range(0, len(unique), CHUNK):
            chunk = unique[i : i + CHUNK]
            statement = marks(q.stop_facts_sqlite(len(chunk)))
            out += [
                (r[0], r[1], r[2], r[3]) for r in await self._rows(statement, tenant, since, *chunk)
            ]
        return out

    async def older_enrollments(
        self, tenant: str, scenario: str, version: int
    ) -> list[tuple[Enrollment, str, str]]:
        rows = await self._rows(marks(q.OLDER_ENROLLMENTS), tenant, scenario, version)
        return [(q.enrollment(r[:-2]), r[-2], r[-1]) for r in rows]

    async def migrate_enrollments(self, ids: Sequence[str], version: int, now: float) -> int:
        moved = 0
        async with self._write() as db:
            for eid in ids:
                if await _count(db, q.MIGRATE_ENROLLMENT, eid, version, now) == 1:
                    await _count(db, q.MIGRATE_OPS, eid, version, now)
                    moved += 1
        return moved

    async def enrollment_counts(self, tenant: str, scenario: str) -> dict[str, int]:
        rows = await self._rows(marks(q.ENROLLMENT_COUNTS), tenant, scenario)
        return {r[0]: r[1] for r in rows}

    async def add_contact_event(
        self, tenant: str, email: str, kind: str, detail: str, at: float
    ) -> None:
        async with self._write() as db:
            await _count(db, q.ADD_CONTACT_EVENT, tenant, email, kind, detail, at)

    async def claim_ops(self, claimer: str, now: float, lease: float, limit: int) -> list[Op]:
        async with self._write() as db:
            rows = await _all(db, q.CLAIM_SQLITE, claimer, now + lease, now, limit)
        return sorted((q.op(r) for r in rows), key=lambda o: o.due)

    async def take_orphans(self, claimer: str, now: float, lease: float, limit: int) -> list[Op]:
        async with self._write() as db:
            rows = await _all(db, q.TAKE_ORPHANS_SQLITE, claimer, now + lease, now, limit)
        return [q.op(r) for r in rows]

    async def reap_ops(self, now: float) -> int:
        async with self._write() as db:
            return await _count(db, q.REAP, now)

    async def heartbeat_ops(self, claimer: str, until: float) -> None:
        async with self._write() as db:
            await _count(db, q.HEARTBEAT, claimer, until)

    async def mark_sending(self, claimer: str, marks: Sequence[Mark], now: float) -> list[bool]:
        async with self._write() as db:
            return [
                await _count(db, q.MARK_SENDING, m.op_id, claimer, m.message_id, m.variant, now)
                == 1
                for m in marks
            ]

    async def set_ops(self, claimer: str, releases: Sequence[Release], now: float) -> list[bool]:
        async with self._write() as db:
            return [
                await _count(db, q.SET_OP, r.op_id, claimer, r.status, r.due, r.reason, now) == 1
                for r in releases
            ]

    async def complete_ops(self, cs: Sequence[Completion], now: float) -> list[bool]:
        async with self._write() as db:
            return [await _complete(db, c, now) for c in cs]

    async def open_ops(self, tenant: str, scenario: str) -> int:
        return int(await self._one(q.OPEN_OPS, tenant, scenario))

    async def op_counts(self, tenant: str, scenario: str) -> list[tuple[str, int, str, int]]:
        rows = await self._rows(marks(q.OP_COUNTS), tenant, scenario)
        return [(r[0], r[1], r[2], r[3]) for r in rows]

    async def due_stats(self, now: float) -> tuple[int, float | None]:
        rows = await self._rows(marks(q.DUE_STATS), now)
        return (int(rows[0][0]), rows[0][1]) if rows else (0, None)

    async def relayed_kind(self, tenant: str, message_id: str) -> str | None:
        value: str | None = await self._one(q.RELAYED, message_id, f"<{message_id}>", tenant)
        return value

    async def message_engagement(
        self, tenant: str, message_id: str, email: str
    ) -> list[tuple[str, float, str, str]]:
        rows = await self._rows(marks(q.HUMAN_EVENTS), tenant, message_id, f"<{message_id}>", email)
        return [(r[0], r[1], r[2], r[3]) for r in rows]

    async def last_send_to(self, tenant: str, email: str) -> float | None:
        value: float | None = await self._one(q.LAST_SEND, tenant, email)
        return value

    async def scenario_sends_since(
        self, tenant: str, scenario: str, since: float
    ) -> tuple[int, float | None]:
        rows = await self._rows(marks(q.SENDS_SINCE), tenant, scenario, since)
        return (int(rows[0][0]), rows[0][1]) if rows else (0, None)

    async def last_scenario_send(self, tenant: str, scenario: str) -> float | None:
        value: float | None = await self._one(q.LAST_SCENARIO_SEND, tenant, scenario)
        return value

    async def variant_engagement(
        self, tenant: str, scenario: str, step: str
    ) -> list[tuple[int, int, int, int]]:
        rows = await self._rows(marks(q.VARIANT_ENGAGEMENT), tenant, scenario, step)
        return [(r[0], r[1], r[2], r[3]) for r in rows]

    async def stop_reason(self, tenant: str, email: str, since: float) -> str | None:
        found: Any = await self._one(q.STOP_REASON, tenant, email, since)
        return str(found) if found is not None else None
