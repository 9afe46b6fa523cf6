"""The scenario tables on PostgreSQL: a mixin of PostgresStore."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from policy.scenarios.ledger import Enrollment, Op, Plan, ScenarioRow
from policy.store import scenarios_sql as q

if TYPE_CHECKING:
    import asyncpg

    from policy.store.scenario_store import Completion, Mark, Release


class PgScenarios:
    if TYPE_CHECKING:

        def _pool(self) -> asyncpg.Pool: ...

    async def save_scenario(
        self, tenant: str, name: str, definition: str, start_at: float | None,
        queue_behind: str | None, now: float,
    ) -> int:  # fmt: skip
        async with self._pool().acquire() as conn, conn.transaction():
            version = await conn.fetchval(
                q.UPDATE_DRAFT, tenant, name, definition, start_at, queue_behind, now
            )
            if version is None:
                version = await conn.fetchval(
                    q.UPDATE_SCENARIO, tenant, name, definition, start_at, queue_behind, now
                )
            if version is None:
                await conn.execute(
                    q.INSERT_SCENARIO, tenant, name, definition, start_at, queue_behind, now
                )
                version = 1
            await conn.execute(q.SAVE_VERSION, tenant, name, version, definition, now)
            return int(version)

    async def scenario(self, tenant: str, name: str) -> ScenarioRow | None:
        row = await self._pool().fetchrow(q.SCENARIO, tenant, name)
        return q.scenario(row) if row is not None else None

    async def scenarios(self, tenant: str | None = None) -> list[ScenarioRow]:
        if tenant is None:
            return [q.scenario(r) for r in await self._pool().fetch(q.ALL_SCENARIOS)]
        return [q.scenario(r) for r in await self._pool().fetch(q.SCENARIOS, tenant)]

    async def scenario_definition(self, tenant: str, name: str, version: int) -> str | None:
        value: str | None = await self._pool().fetchval(q.VERSION, tenant, name, version)
        return value

    async def set_scenario_status(
        self, tenant: str, name: str, to: str, expect: str, now: float
    ) -> bool:
        async with self._pool().acquire() as conn, conn.transaction():
            done = await conn.execute(q.SET_STATUS, tenant, name, to, now, expect)
            if done != "UPDATE 1":
                return False
            if to in q.FROZEN and expect not in q.FROZEN:
                await conn.execute(q.FREEZE, tenant, name, now)
            elif expect in q.FROZEN and to == "active":
                await conn.execute(q.THAW, tenant, name, now)
            elif to == "cancelled":
                archive, delete = q.CANCEL_SCENARIO_OPS
                await conn.execute(archive, tenant, name, "scenario cancelled", now)
                await conn.execute(delete, tenant, name)
                await conn.execute(
                    q.END_ENROLLMENTS, tenant, name, "cancelled", "scenario cancelled", now
                )
            return True

    async def set_winners(self, tenant: str, name: str, winners: str, now: float) -> None:
        await self._pool().execute(q.SET_WINNERS, tenant, name, winners, now)

    async def enroll(self, plans: Sequence[Plan], now: float) -> list[bool]:
        created = []
        async with self._pool().acquire() as conn, conn.transaction():
            for p in plans:
                status = await conn.execute(
                    q.INSERT_ENROLLMENT, p.enrollment, p.tenant, p.scenario, p.version, p.email,
                    now,
                )  # fmt: skip
                fresh = status == "INSERT 0 1"
                if fresh:
                    await conn.execute(q.ADD_OP, *q.plan_row(p, now))
                created.append(fresh)
        return created

    async def enrollment(self, enrollment_id: str) -> Enrollment | None:
        row = await self._pool().fetchrow(q.ENROLLMENT, enrollment_id)
        return q.enrollment(row) if row is not None else None

    async def enrollments(self, ids: Sequence[str]) -> dict[str, Enrollment]:
        rows = await self._pool().fetch(q.ENROLLMENTS_PG, list(dict.fromkeys(ids)))
        return {r[0]: q.enrollment(r) for r in rows}

    async def stop_facts(
        self, tenant: str, emails: Sequence[str], since: float
    ) -> list[tuple[str, int, float, str]]:
        rows = await self._pool().fetch(q.STOP_FACTS_PG, tenant, since, list(set(emails)))
        return [(r[0], r[1], r[2], r[3]) for r in rows]

    async def older_enrollments(
        self, tenant: str, scenario: str, version: int
    ) -> list[tuple[Enrollment, str, str]]:
        rows = await self._pool().fetch(q.OLDER_ENROLLMENTS, tenant, scenario, version)
        return [(q.enrollment(r[:-2]), r[-2], r[-1]) for r in rows]

    async def migrate_enrollments(self, ids: Sequence[str], version: int, now: float) -> int:
        moved = 0
        async with self._pool().acquire() as conn, conn.transaction():
            for eid in ids:
                if await conn.execute(q.MIGRATE_ENROLLMENT, eid, version, now) == "UPDATE 1":
                    await conn.execute(q.MIGRATE_OPS, eid, version, now)
                    moved += 1
        return moved

    async def enrollment_counts(self, tenant: str, scenario: str) -> dict[str, int]:
        rows = await self._pool().fetch(q.ENROLLMENT_COUNTS, tenant, scenario)
        return {r[0]: r[1] for r in rows}

    async def add_contact_event(
        self, tenant: str, email: str, kind: str, detail: str, at: float
    ) -> None:
        await self._pool().execute(q.ADD_CONTACT_EVENT, tenant, email, kind, detail, at)

    async def claim_ops(self, claimer: str, now: float, lease: float, limit: int) -> list[Op]:
        rows = await self._pool().fetch(q.CLAIM_PG, claimer, now + lease, now, limit)
        return sorted((q.op(r) for r in rows), key=lambda o: o.due)

    async def take_orphans(self, claimer: str, now: float, lease: float, limit: int) -> list[Op]:
        rows = await self._pool().fetch(q.TAKE_ORPHANS_PG, claimer, now + lease, now, limit)
        return [q.op(r) for r in rows]

    async def reap_ops(self, now: float) -> int:
        status: str = await self._pool().execute(q.REAP, now)
        return int(status.split()[-1])

    async def heartbeat_ops(self, claimer: str, until: float) -> None:
        await self._pool().execute(q.HEARTBEAT, claimer, until)

    async def mark_sending(self, claimer: str, marks: Sequence[Mark], now: float) -> list[bool]:
        ids = [m.op_id for m in marks]
        rows = await self._pool().fetch(
            q.MARK_SENDING_PG, ids, [m.message_id for m in marks], [m.variant for m in marks],
            now, claimer,
        )  # fmt: skip
        done = {r[0] for r in rows}
        return [i in done for i in ids]

    async def set_ops(self, claimer: str, releases: Sequence[Release], now: float) -> list[bool]:
        ids = [r.op_id for r in releases]
        rows = await self._pool().fetch(
            q.SET_OPS_PG, ids, [r.status for r in releases], [r.due for r in releases],
            [r.reason for r in releases], now, claimer,
        )  # fmt: skip
        done = {r[0] for r in rows}
        return [i in done for i in ids]

    async def complete_ops(self, cs: Sequence[Completion], now: float) -> list[bool]:
        """One statement per claimer (an engine's writes have one), each set-based over
        the batch; a transaction only around several."""
        claimers = {c.claimer for c in cs}
        mine: set[int] = set()
        async with self._pool().acquire() as conn:
            atomic = conn.transaction() if len(claimers) > 1 else contextlib.nullcontext()
            async with atomic:
                for claimer in claimers:
                    held = [c for c in cs if c.claimer == claimer]
                    rows = await conn.fetch(q.END_PG, *_end_args(held, claimer, now))
                    mine.update(r[0] for r in rows)
        return [c.op.id in mine for c in cs]

    async def open_ops(self, tenant: str, scenario: str) -> int:
        return int(await self._pool().fetchval(q.OPEN_OPS, tenant, scenario))

    async def op_counts(self, tenant: str, scenario: str) -> list[tuple[str, int, str, int]]:
        rows = await self._pool().fetch(q.OP_COUNTS, tenant, scenario)
        return [(r[0], r[1], r[2], r[3]) for r in rows]

    async def due_stats(self, now: float) -> tuple[int, float | None]:
        row = await self._pool().fetchrow(q.DUE_STATS, now)
        return (int(row[0]), row[1]) if row is not None else (0, None)

    async def relayed_kind(self, tenant: str, message_id: str) -> str | None:
        kind: str | None = await self._pool().fetchval(
            q.RELAYED, message_id, f"<{message_id}>", tenant
        )
        return kind

    async def message_engagement(
        self, tenant: str, message_id: str, email: str
    ) -> list[tuple[str, float, str, str]]:
        rows = await self._pool().fetch(
            q.HUMAN_EVENTS, tenant, message_id, f"<{message_id}>", email
        )
        return [(r[0], r[1], r[2], r[3]) for r in rows]

    async def last_send_to(self, tenant: str, email: str) -> float | None:
        value: float | None = await self._pool().fetchval(q.LAST_SEND, tenant, email)
        return value

    async def scenario_sends_since(
        self, tenant: str, scenario: str, since: float
    ) -> tuple[int, float | None]:
        row = await self._pool().fetchrow(q.SENDS_SINCE, tenant, scenario, since)
        return (int(row[0]), row[1]) if row is not None else (0, None)

    async def last_scenario_send(self, tenant: str, scenario: str) -> float | None:
        value: float | None = await self._pool().fetchval(q.LAST_SCENARIO_SEND, tenant, scenario)
        return value

    async def variant_engagement(
        self, tenant: str, scenario: str, step: str
    ) -> list[tuple[int, int, int, int]]:
        rows = await self._pool().fetch(q.VARIANT_ENGAGEMENT, tenant, scenario, step)
        return [(r[0], r[1], r[2], r[3]) for r in rows]

    async def stop_reason(self, tenant: str, email: str, since: float) -> str | None:
        found: Any = await self._pool().fetchval(q.STOP_REASON, tenant, email, since)
        return str(found) if found is not None else None


def _end_args(cs: Sequence[Completion], claimer: str, now: float) -> list[Any]:
    """``END_PG``'s arguments: the ends, then, one array per column, the enrollments'
    writes, the plans and the enrollments ended, each row tagged with its operation."""
    none: tuple[None, ...] = (None,) * 4
    written = [
        (c.op.id, c.op.enrollment, *(c.sent or none), *(c.end or none[:2]))
        for c in cs
        if c.sent is not None or c.end is not None
    ]
    plans = [(c.op.id, *q.plan_row(p, now)[:-1]) for c in cs for p in c.plans]
    ends = [(c.op.id, c.op.enrollment, c.end[1]) for c in cs if c.end is not None]
    return [
        [c.op.id for c in cs], [c.status for c in cs], [c.reason for c in cs], now, claimer,
        *_columns(written, 8), *_columns(plans, 11), *_columns(ends, 3),
    ]  # fmt: skip


def _columns(rows: Sequence[tuple[Any, ...]], width: int) -> list[list[Any]]:
    """Rows as one list per column (``width`` empty lists when there are none)."""
    return [list(c) for c in zip(*rows, strict=True)] if rows else [[] for _ in range(width)]
