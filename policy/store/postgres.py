"""The production store: PostgreSQL through an asyncpg pool."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Sequence
from dataclasses import astuple
from typing import Any

import asyncpg

from policy.audit import AuditEntry
from policy.engagement import COLUMNS, Engagement
from policy.events import Event
from policy.quota.ipstate import IpRecord
from policy.quota.measures import Measure
from policy.quota.states import Transition
from policy.reputation.confirm import HistoryEntry, Standing
from policy.store import admin_sql as asql
from policy.store import engagement_sql as esql
from policy.store import feedback_sql as fsql
from policy.store import reputation_sql as rsql
from policy.store import sql
from policy.store.contacts_pg import PgContacts
from policy.store.personalization_pg import PersonalizationPg
from policy.store.prospects_pg import ProspectsPg
from policy.store.provider_pg import ProviderFeedbackPg
from policy.store.replies_pg import PgReplies
from policy.store.rotation_store import RotationPg
from policy.store.scenarios_pg import PgScenarios
from policy.store.schema import EVENT_COLUMNS, MIGRATIONS, POSTGRES_ONLY
from policy.suppression import Removal, Suppression
from policy.switches import Switch

# A connection attempt to a database that does not answer (a dead route drops
# packets, nothing refuses) gives up after this many seconds instead of asyncpg's
# 60, so the pool reconnects as soon as the database is back.
CONNECT_TIMEOUT = 5.0
# A shutdown waits this long for the pool's connections to close politely.
CLOSE_TIMEOUT = 2.0
# Several gateway hosts may start at once against one database.
MIGRATION_LOCK = 0x5100CE
SUPPRESSION_LOCK = 0x5100CF


class _Connection(asyncpg.Connection):  # type: ignore[misc]
    """No reset query on release: the store sets no session state (no LISTEN, session
    locks, cursors or SET; its advisory locks are per transaction), and the default
    query was one more round trip for every statement run through the pool. An open
    transaction is still rolled back by asyncpg itself."""

    def get_reset_query(self) -> str:
        return ""


class PostgresStore(
    PgScenarios,
    PgReplies,
    PgContacts,
    ProviderFeedbackPg,
    PersonalizationPg,
    RotationPg,
    ProspectsPg,
):
    def __init__(self, dsn: str, *, min_size: int = 1, max_size: int = 10):
        self.dsn = dsn
        self.min_size = min_size
        self.max_size = max_size
        self.pool: asyncpg.Pool | None = None

    async def open(self) -> None:
        assert self.pool is None, "store already open"  # a second pool would leak the first
        self.pool = await asyncpg.create_pool(
            self.dsn,
            min_size=self.min_size,
            max_size=self.max_size,
            command_timeout=10,
            timeout=CONNECT_TIMEOUT,
            connection_class=_Connection,
            # JIT compiles a statement whose estimated cost is high; here those are short
            # statements with a LIMIT (a claim: 150 ms compiling a 10 ms read). A DSN
            # that says jit= keeps its own choice.
            server_settings={} if "jit=" in self.dsn else {"jit": "off"},
        )
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
            await conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER)")
            current = await conn.fetchval("SELECT coalesce(max(version), 0) FROM schema_version")
            for version, statement in MIGRATIONS:
                if version > current:
                    await conn.execute(statement.format(id_column="BIGSERIAL PRIMARY KEY"))
                    if version in POSTGRES_ONLY:
                        await conn.execute(POSTGRES_ONLY[version])
                    await conn.execute("INSERT INTO schema_version VALUES ($1)", version)

    async def close(self) -> None:
        if self.pool is not None:
            pool, self.pool = self.pool, None
            try:
                await asyncio.wait_for(pool.close(), CLOSE_TIMEOUT)
            except TimeoutError:
                pool.terminate()  # the database does not answer: drop the sockets

    async def ping(self) -> None:
        assert self.pool is not None, "store not open"
        await self.pool.fetchval("SELECT 1")

    async def record(self, events: Sequence[Event]) -> None:
        assert self.pool is not None, "store not open"
        rows = [e.as_row() for e in events]
        await self.pool.copy_records_to_table("events", records=rows, columns=list(EVENT_COLUMNS))

    async def recent_events(self, limit: int = 100) -> list[dict[str, Any]]:
        assert self.pool is not None, "store not open"
        query = f"SELECT {','.join(EVENT_COLUMNS)} FROM events ORDER BY id DESC LIMIT $1"
        return [dict(r) for r in await self.pool.fetch(query, limit)]

    def _pool(self) -> asyncpg.Pool:
        assert self.pool is not None, "store not open"
        return self.pool

    async def day_counts(self, ip: str, start: float, end: float) -> dict[str, int]:
        return {r[0]: r[1] for r in await self._pool().fetch(sql.DAY_COUNTS, ip, start, end)}

    async def provider_counts(self, ip: str, start: float, end: float) -> dict[str, int]:
        rows = await self._pool().fetch(sql.PROVIDER_COUNTS, ip, start, end)
        return {r[0]: r[1] for r in rows}

    async def tenant_volumes(self, start: float, end: float) -> list[tuple[str, str, str, int]]:
        rows = await self._pool().fetch(sql.TENANT_VOLUMES, start, end)
        return [(r[0], r[1], r[2], int(r[3])) for r in rows]

    async def last_sent(self, ip: str) -> float | None:
        at: float | None = await self._pool().fetchval(sql.LAST_SENT, ip)
        return at

    async def _next_seq(self, conn: asyncpg.Connection) -> int:
        # Writers take turns, so sequence order is commit order and a mirror
        # reading "seq > last" can never skip a row committed late.
        await conn.execute("SELECT pg_advisory_xact_lock($1)", SUPPRESSION_LOCK)
        return int(await conn.fetchval(sql.LAST_SEQ))

    async def suppress(self, entries: Sequence[Suppression]) -> int:
        if not entries:
            return 0
        async with self._pool().acquire() as conn, conn.transaction():
            seq = await self._next_seq(conn)
            await conn.executemany(sql.SUPPRESS, sql.suppress_rows(entries, seq))
        return len(entries)

    async def unsuppress(self, tenant: str, addresses: Sequence[str]) -> int:
        removed = 0
        async with self._pool().acquire() as conn, conn.transaction():
            seq = await self._next_seq(conn)
            for address in addresses:
                status = await conn.execute(sql.UNSUPPRESS, seq + 1, tenant, address)
                count = int(status.rsplit(" ", 1)[1])
                seq += count
                removed += count
        return removed

    async def suppression_changes(
        self, after: int, limit: int = 10_000
    ) -> list[tuple[int, Suppression | Removal]]:
        return [sql.change(row) for row in await self._pool().fetch(sql.CHANGES, after, limit)]

    async def suppressions(self, tenant: str | None = None) -> list[Suppression]:
        if tenant is None:
            rows = await self._pool().fetch(sql.ACTIVE + " ORDER BY tenant, address")
        else:
            rows = await self._pool().fetch(
                sql.ACTIVE + " AND tenant = $1 ORDER BY address", tenant
            )
        return [sql.suppression(row) for row in rows]

    async def set_switch(self, switch: Switch) -> None:
        await self._pool().execute(sql.SET_SWITCH, *sql.switch_row(switch))

    async def clear_switch(self, kind: str, target: str) -> bool:
        status: str = await self._pool().execute(sql.CLEAR_SWITCH, kind, target)
        return status != "DELETE 0"

    async def switches(self) -> list[Switch]:
        return [Switch(*row) for row in await self._pool().fetch(sql.SWITCHES)]

    async def ip_states(self) -> dict[str, IpRecord]:
        return {row[0]: sql.ip_record(row) for row in await self._pool().fetch(sql.IP_STATES)}

    async def save_ip(self, record: IpRecord, change: Transition, expect: IpRecord | None) -> bool:
        async with self._pool().acquire() as conn, conn.transaction():
            if expect is None:
                status = await conn.execute(sql.INSERT_IP, *sql.ip_row(record))
            else:
                status = await conn.execute(
                    sql.UPDATE_IP, *sql.ip_row(record), *sql.ip_match(expect)
                )
            if not status.endswith(" 1"):
                return False
            await conn.execute(sql.INSERT_TRANSITION, *sql.transition_row(change))
        return True

    async def ip_history(self, ip: str, limit: int = 50) -> list[Transition]:
        return [sql.transition(row) for row in await self._pool().fetch(sql.HISTORY, ip, limit)]

    # Feedback (bounces, complaints, accounting): policy/store/feedback_sql.py.
    async def count_soft_bounce(
        self, tenant: str, address: str, key: str, at: float, since: float
    ) -> int:
        async with self._pool().acquire() as conn, conn.transaction():
            await conn.execute(fsql.INSERT_SOFT, key, tenant, address, at)
            return int(await conn.fetchval(fsql.COUNT_SOFT, tenant, address, since))

    async def record_feedback(self, keyed: Sequence[tuple[str, Event]]) -> list[Event]:
        if not keyed:
            return []
        # One key twice in a batch is one event: the first stands.
        first: dict[str, Event] = {}
        for key, event in keyed:
            first.setdefault(key, event)
        async with self._pool().acquire() as conn, conn.transaction():
            at = min(e.at for e in first.values())
            rows = await conn.fetch(fsql.CLAIM_FEEDBACK_PG, list(first), at)
            new = {r[0] for r in rows}
            fresh = [e for k, e in first.items() if k in new]
            if fresh:
                await conn.copy_records_to_table(
                    "events", records=[e.as_row() for e in fresh], columns=list(EVENT_COLUMNS)
                )
        return fresh

    async def reputation_standings(self) -> list[Standing]:
        return [rsql.standing(row) for row in await self._pool().fetch(rsql.STANDINGS)]

    async def save_reputation(
        self, standings: Sequence[Standing], history: Sequence[HistoryEntry]
    ) -> None:
        async with self._pool().acquire() as conn, conn.transaction():
            await conn.executemany(rsql.SAVE_STANDING, map(rsql.standing_row, standings))
            await conn.executemany(rsql.ADD_HISTORY, map(rsql.history_row, history))

    async def reputation_history(
        self, limit: int = 100, target: str | None = None
    ) -> list[HistoryEntry]:
        rows = await self._pool().fetch(rsql.HISTORY, target, limit)
        return [HistoryEntry(*row) for row in rows]

    async def save_measure(self, measure: Measure) -> None:
        await self._pool().execute(fsql.SAVE_MEASURE, *astuple(measure))

    async def measures(self, now: float) -> list[Measure]:
        return [Measure(*row) for row in await self._pool().fetch(fsql.MEASURES, now)]

    async def prune_feedback_keys(self, before: float) -> int:
        status = await self._pool().execute(fsql.PRUNE_APPLIED, before)
        return int(status.split()[-1])

    async def record_once(
        self,
        key: str,
        at: float,
        engagement: Sequence[Engagement],
        notifications: Sequence[tuple[str, str]],
    ) -> bool:
        async with self._pool().acquire() as conn, conn.transaction():
            if not await conn.fetch(fsql.CLAIM_FEEDBACK_PG, [key], at):
                return False
            rows = esql.rows(engagement, set())[0]
            if rows:
                await conn.copy_records_to_table("engagement", records=rows, columns=list(COLUMNS))
            if notifications:
                await conn.executemany(fsql.ENQUEUE, [(t, p, at, at) for t, p in notifications])
        return True

    async def prune_soft_bounces(self, before: float) -> int:
        status = await self._pool().execute(fsql.PRUNE_SOFT, before)
        return int(status.rsplit(" ", 1)[-1])

    async def suppression_entry(self, tenant: str, address: str) -> Suppression | None:
        return fsql.suppression(
            await self._pool().fetchrow(fsql.SUPPRESSION_ENTRY, tenant, address)
        )

    async def accounting_position(self, file_key: str) -> tuple[str, int] | None:
        row = await self._pool().fetchrow(fsql.ACCOUNTING_POSITION, file_key)
        return (row[0], int(row[1])) if row else None

    async def save_accounting_position(
        self, file_key: str, path: str, fingerprint: str, read_to: int, at: float
    ) -> None:
        await self._pool().execute(
            fsql.SAVE_ACCOUNTING_POSITION, file_key, path, fingerprint, read_to, at
        )

    async def feedback_counts(self, since: float, until: float) -> list[tuple[str, str, str, int]]:
        rows = await self._pool().fetch(fsql.FEEDBACK_COUNTS, since, until)
        return [(r[0], r[1], r[2], int(r[3])) for r in rows]

    async def tenant_feedback_counts(
        self, since: float, until: float
    ) -> list[tuple[str, str, int]]:
        rows = await self._pool().fetch(fsql.TENANT_COUNTS, since, until)
        return [(r[0], r[1], int(r[2])) for r in rows]

    async def record_engagement(self, events: Sequence[Engagement]) -> list[bool]:
        """Write opens, clicks and unsubscribes; which of them is a first open."""
        firsts = esql.open_keys(events)
        new: set[esql.Key] = set()
        async with self._pool().acquire() as conn, conn.transaction():
            if firsts:
                columns = [list(c) for c in zip(*firsts, strict=True)]
                new = {tuple(r) for r in await conn.fetch(esql.PG_FIRST, *columns)}
            rows, flags = esql.rows(events, new)
            await conn.copy_records_to_table("engagement", records=rows, columns=list(COLUMNS))
        return flags

    async def recent_engagement(
        self, limit: int = 100, tenant: str | None = None
    ) -> list[dict[str, Any]]:
        if tenant is None:
            found = await self._pool().fetch(esql.RECENT, limit)
        else:
            found = await self._pool().fetch(esql.RECENT_TENANT, tenant, limit)
        return [esql.as_dict(row) for row in found]

    async def enqueue_notifications(self, rows: Sequence[tuple[str, str]], at: float) -> int:
        await self._pool().executemany(fsql.ENQUEUE, [(t, p, at, at) for t, p in rows])
        return len(rows)

    async def claim_notifications(
        self, now: float, lease_until: float, limit: int
    ) -> list[tuple[int, str, str, int]]:
        rows = await self._pool().fetch(fsql.CLAIM_PG, lease_until, now, limit)
        return sorted((r[0], r[1], r[2], r[3]) for r in rows)

    async def finish_notifications(self, ids: Sequence[int]) -> None:
        await self._pool().executemany(fsql.FINISH, [(i,) for i in ids])

    async def retry_notifications(self, ids: Sequence[int], next_at: float, error: str) -> None:
        await self._pool().executemany(fsql.RETRY, [(next_at, error, i) for i in ids])

    async def pending_notifications(self) -> int:
        return int(await self._pool().fetchval(fsql.PENDING))

    async def suppression_entries(
        self, tenant: str, addresses: Sequence[str]
    ) -> dict[str, Suppression]:
        rows = await self._pool().fetch(fsql.ENTRIES_PG, tenant, sorted(set(addresses)))
        return {row[1]: sql.suppression(row) for row in rows}

    async def record_audit(self, entry: AuditEntry) -> int:
        return int(
            await self._pool().fetchval(asql.INSERT_AUDIT + " RETURNING id", *asql.audit_row(entry))
        )

    async def audit_entries(
        self, limit: int = 100, before_id: int = 0, actor: str = "", action: str = ""
    ) -> list[AuditEntry]:
        query, args = asql.audit_page(limit, before_id, actor, action)
        rows = await self._pool().fetch(query, *args)
        return [asql.audit_entry(row) for row in rows]

    # Admin lists (policy/store/admin_sql.py).
    async def suppression_page(
        self, filters: asql.SuppressionFilter, after: tuple[str, str] | None, limit: int
    ) -> list[Suppression]:
        query, args = asql.suppression_page(filters, after, limit, asql.PG_FIND)
        return [sql.suppression(row) for row in await self._pool().fetch(query, *args)]

    async def suppression_export(
        self, filters: asql.SuppressionFilter, batch: int = 1000
    ) -> AsyncGenerator[list[Suppression], None]:
        # One server-side cursor in a read-only transaction: one snapshot of
        # the list, fetched a batch at a time, never the whole of it in memory.
        query, args = asql.suppression_page(filters, None, None, asql.PG_FIND)
        async with self._pool().acquire() as conn, conn.transaction(readonly=True):
            cursor = await conn.cursor(query, *args)
            while rows := await cursor.fetch(batch):
                yield [sql.suppression(row) for row in rows]

    async def event_page(
        self, filters: asql.EventFilter, before_id: int, limit: int
    ) -> list[dict[str, Any]]:
        query, args = asql.event_page(filters, before_id, limit, asql.PG_FIND)
        return [asql.event_dict(row) for row in await self._pool().fetch(query, *args)]

    async def engagement_page(
        self, filters: asql.EngagementFilter, before_id: int, limit: int
    ) -> list[dict[str, Any]]:
        query, args = asql.engagement_page(filters, before_id, limit)
        return [asql.engagement_dict(row) for row in await self._pool().fetch(query, *args)]

    async def feedback_breakdown(
        self, since: float, until: float, tenant: str | None = None
    ) -> list[tuple[str, str, str, str, int]]:
        query, args = asql.feedback_breakdown(since, until, tenant)
        rows = await self._pool().fetch(query, *args)
        return [(r[0], r[1], r[2], r[3], int(r[4])) for r in rows]
