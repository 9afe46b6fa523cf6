"""The embedded store: one SQLite file, driven off the event loop by aiosqlite."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from dataclasses import astuple
from typing import Any

import aiosqlite

from policy.audit import AuditEntry
from policy.engagement import Engagement
from policy.events import Event
from policy.quota.ipstate import IpRecord
from policy.quota.measures import Measure
from policy.quota.states import Transition
from policy.reputation.confirm import HistoryEntry, Standing
from policy.store import admin_sql as asql
from policy.store import engagement_sql as esql
from policy.store import feedback_sql as fsql
from policy.store import reputation_sql as rsql
from policy.store import sql, sqlite_open
from policy.store.contacts_sqlite import SqliteContacts
from policy.store.personalization_sqlite import PersonalizationSqlite
from policy.store.prospects_sqlite import ProspectsSqlite
from policy.store.provider_sqlite import ProviderFeedbackSqlite
from policy.store.replies_sqlite import SqliteReplies
from policy.store.rotation_store import RotationSqlite
from policy.store.scenarios_sqlite import SqliteScenarios
from policy.store.schema import EVENT_COLUMNS
from policy.suppression import Removal, Suppression
from policy.switches import Switch


class SqliteStore(
    SqliteScenarios,
    SqliteReplies,
    SqliteContacts,
    ProviderFeedbackSqlite,
    PersonalizationSqlite,
    RotationSqlite,
    ProspectsSqlite,
):
    def __init__(self, path: str):
        self.path = path
        self.db: aiosqlite.Connection | None = None
        # One connection: coroutines take turns at its write transactions.
        self._writing = asyncio.Lock()

    async def open(self) -> None:
        # A second open would leave the first connection's thread running unclosed.
        assert self.db is None, "store already open"
        self.db = await sqlite_open.connect(self.path)

    async def close(self) -> None:
        if self.db is not None:
            await self.db.close()
            self.db = None

    async def ping(self) -> None:
        assert self.db is not None, "store not open"
        await self.db.execute("SELECT 1")

    @contextlib.asynccontextmanager
    async def _write(self) -> AsyncIterator[aiosqlite.Connection]:
        """One write transaction, holding SQLite's write lock from the start."""
        assert self.db is not None, "store not open"
        async with self._writing:
            await self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
            except BaseException:
                await self.db.execute("ROLLBACK")
                raise
            await self.db.execute("COMMIT")

    async def _rows(self, sql: str, *args: object) -> list[tuple[Any, ...]]:
        assert self.db is not None, "store not open"
        async with self.db.execute(sql, args) as cur:
            # Rows are plain tuples: no row_factory is set (the stub says sqlite3.Row).
            return list(await cur.fetchall())  # type: ignore[arg-type]

    async def record(self, events: Sequence[Event]) -> None:
        marks = ",".join("?" * len(EVENT_COLUMNS))
        rows = [e.as_row() for e in events]
        async with self._write() as db:
            await db.executemany(
                f"INSERT INTO events ({','.join(EVENT_COLUMNS)}) VALUES ({marks})", rows
            )

    async def recent_events(self, limit: int = 100) -> list[dict[str, Any]]:
        sql = f"SELECT {','.join(EVENT_COLUMNS)} FROM events ORDER BY id DESC LIMIT ?"
        return [dict(zip(EVENT_COLUMNS, row, strict=True)) for row in await self._rows(sql, limit)]

    async def day_counts(self, ip: str, start: float, end: float) -> dict[str, int]:
        return dict(await self._rows(sql.q(sql.DAY_COUNTS), ip, start, end))

    async def provider_counts(self, ip: str, start: float, end: float) -> dict[str, int]:
        return dict(await self._rows(sql.q(sql.PROVIDER_COUNTS), ip, start, end))

    async def tenant_volumes(self, start: float, end: float) -> list[tuple[str, str, str, int]]:
        rows = await self._rows(sql.q(sql.TENANT_VOLUMES), start, end)
        return [(r[0], r[1], r[2], int(r[3])) for r in rows]

    async def last_sent(self, ip: str) -> float | None:
        at: float | None = (await self._rows(sql.q(sql.LAST_SENT), ip))[0][0]
        return at

    async def suppress(self, entries: Sequence[Suppression]) -> int:
        if not entries:
            return 0
        async with self._write() as db:
            seq = await _last_seq(db)
            await db.executemany(sql.q(sql.SUPPRESS), sql.suppress_rows(entries, seq))
        return len(entries)

    async def unsuppress(self, tenant: str, addresses: Sequence[str]) -> int:
        removed = 0
        async with self._write() as db:
            seq = await _last_seq(db)
            for address in addresses:
                cur = await db.execute(sql.q(sql.UNSUPPRESS), (seq + 1, tenant, address))
                seq += cur.rowcount
                removed += cur.rowcount
        return removed

    async def suppression_changes(
        self, after: int, limit: int = 10_000
    ) -> list[tuple[int, Suppression | Removal]]:
        return [sql.change(row) for row in await self._rows(sql.q(sql.CHANGES), after, limit)]

    async def suppressions(self, tenant: str | None = None) -> list[Suppression]:
        if tenant is None:
            rows = await self._rows(sql.ACTIVE + " ORDER BY tenant, address")
        else:
            rows = await self._rows(sql.ACTIVE + " AND tenant = ? ORDER BY address", tenant)
        return [sql.suppression(row) for row in rows]

    async def set_switch(self, switch: Switch) -> None:
        async with self._write() as db:
            await db.execute(sql.q(sql.SET_SWITCH), sql.switch_row(switch))

    async def clear_switch(self, kind: str, target: str) -> bool:
        async with self._write() as db:
            cur = await db.execute(sql.q(sql.CLEAR_SWITCH), (kind, target))
            return cur.rowcount > 0

    async def switches(self) -> list[Switch]:
        return [Switch(*row) for row in await self._rows(sql.SWITCHES)]

    async def ip_states(self) -> dict[str, IpRecord]:
        return {row[0]: sql.ip_record(row) for row in await self._rows(sql.IP_STATES)}

    async def save_ip(self, record: IpRecord, change: Transition, expect: IpRecord | None) -> bool:
        async with self._write() as db:
            if expect is None:
                cur = await db.execute(sql.q(sql.INSERT_IP), sql.ip_row(record))
            else:
                cur = await db.execute(
                    sql.q(sql.UPDATE_IP), (*sql.ip_row(record), *sql.ip_match(expect))
                )
            if cur.rowcount != 1:
                return False
            await db.execute(sql.q(sql.INSERT_TRANSITION), sql.transition_row(change))
        return True

    async def ip_history(self, ip: str, limit: int = 50) -> list[Transition]:
        return [sql.transition(row) for row in await self._rows(sql.q(sql.HISTORY), ip, limit)]

    # Feedback (bounces, complaints, accounting): policy/store/feedback_sql.py.
    async def count_soft_bounce(
        self, tenant: str, address: str, key: str, at: float, since: float
    ) -> int:
        async with self._write() as db:
            await db.execute(sql.q(fsql.INSERT_SOFT), (key, tenant, address, at))
            async with db.execute(sql.q(fsql.COUNT_SOFT), (tenant, address, since)) as cur:
                row = await cur.fetchone()
        assert row is not None, "an aggregate returns one row"
        return int(row[0])

    async def record_feedback(self, keyed: Sequence[tuple[str, Event]]) -> list[Event]:
        if not keyed:
            return []
        # One key twice in a batch is one event: the first stands.
        first: dict[str, Event] = {}
        for key, event in keyed:
            first.setdefault(key, event)
        marks = ",".join("?" * len(EVENT_COLUMNS))
        insert = f"INSERT INTO events ({','.join(EVENT_COLUMNS)}) VALUES ({marks})"
        at = min(e.at for e in first.values())
        async with self._write() as db:
            # All keys claimed in one statement: one round trip to SQLite's
            # thread per batch, not one per record.
            async with db.execute(fsql.CLAIM_FEEDBACK_SQLITE, (at, json.dumps(list(first)))) as cur:
                new = {row[0] for row in await cur.fetchall()}
            fresh = [e for k, e in first.items() if k in new]
            await db.executemany(insert, [e.as_row() for e in fresh])
        return fresh

    async def reputation_standings(self) -> list[Standing]:
        return [rsql.standing(row) for row in await self._rows(sql.q(rsql.STANDINGS))]

    async def save_reputation(
        self, standings: Sequence[Standing], history: Sequence[HistoryEntry]
    ) -> None:
        async with self._write() as db:
            await db.executemany(sql.q(rsql.SAVE_STANDING), map(rsql.standing_row, standings))
            await db.executemany(sql.q(rsql.ADD_HISTORY), map(rsql.history_row, history))

    async def reputation_history(
        self, limit: int = 100, target: str | None = None
    ) -> list[HistoryEntry]:
        rows = await self._rows(rsql.HISTORY_SQLITE, target, target, limit)
        return [HistoryEntry(*row) for row in rows]

    async def save_measure(self, measure: Measure) -> None:
        async with self._write() as db:
            await db.execute(sql.q(fsql.SAVE_MEASURE), astuple(measure))

    async def measures(self, now: float) -> list[Measure]:
        return [Measure(*row) for row in await self._rows(sql.q(fsql.MEASURES), now)]

    async def prune_feedback_keys(self, before: float) -> int:
        async with self._write() as db:
            cur = await db.execute(sql.q(fsql.PRUNE_APPLIED), (before,))
            return cur.rowcount

    async def record_once(
        self,
        key: str,
        at: float,
        engagement: Sequence[Engagement],
        notifications: Sequence[tuple[str, str]],
    ) -> bool:
        async with self._write() as db:
            cur = await db.execute(sql.q(fsql.CLAIM_FEEDBACK), (key, at))
            if cur.rowcount <= 0:
                return False
            await db.executemany(esql.INSERT, esql.rows(engagement, set())[0])
            await db.executemany(sql.q(fsql.ENQUEUE), [(t, p, at, at) for t, p in notifications])
        return True

    async def prune_soft_bounces(self, before: float) -> int:
        async with self._write() as db:
            cur = await db.execute(sql.q(fsql.PRUNE_SOFT), (before,))
            return cur.rowcount

    async def suppression_entry(self, tenant: str, address: str) -> Suppression | None:
        rows = await self._rows(sql.q(fsql.SUPPRESSION_ENTRY), tenant, address)
        return fsql.suppression(rows[0] if rows else None)

    async def accounting_position(self, file_key: str) -> tuple[str, int] | None:
        rows = await self._rows(sql.q(fsql.ACCOUNTING_POSITION), file_key)
        return (rows[0][0], int(rows[0][1])) if rows else None

    async def save_accounting_position(
        self, file_key: str, path: str, fingerprint: str, read_to: int, at: float
    ) -> None:
        async with self._write() as db:
            await db.execute(
                sql.q(fsql.SAVE_ACCOUNTING_POSITION), (file_key, path, fingerprint, read_to, at)
            )

    async def feedback_counts(self, since: float, until: float) -> list[tuple[str, str, str, int]]:
        rows = await self._rows(sql.q(fsql.FEEDBACK_COUNTS), since, until)
        return [(ip, provider, kind, int(n)) for ip, provider, kind, n in rows]

    async def tenant_feedback_counts(
        self, since: float, until: float
    ) -> list[tuple[str, str, int]]:
        rows = await self._rows(sql.q(fsql.TENANT_COUNTS), since, until)
        return [(tenant, kind, int(n)) for tenant, kind, n in rows]

    async def record_engagement(self, events: Sequence[Engagement]) -> list[bool]:
        """Write opens, clicks and unsubscribes; which of them is a first open."""
        firsts = esql.open_keys(events)
        new: set[esql.Key] = set()
        async with self._write() as db:
            for i in range(0, len(firsts), esql.SQLITE_CHUNK):
                chunk = firsts[i : i + esql.SQLITE_CHUNK]
                values = ",".join(["(?,?,?,?,?)"] * len(chunk))
                params = [v for row in chunk for v in row]
                async with db.execute(esql.SQLITE_FIRST.format(values=values), params) as cur:
                    new.update(tuple(r) for r in await cur.fetchall())
            rows, flags = esql.rows(events, new)
            await db.executemany(esql.INSERT, rows)
        return flags

    async def recent_engagement(
        self, limit: int = 100, tenant: str | None = None
    ) -> list[dict[str, Any]]:
        if tenant is None:
            found = await self._rows(sql.q(esql.RECENT), limit)
        else:
            found = await self._rows(sql.q(esql.RECENT_TENANT), tenant, limit)
        return [esql.as_dict(row) for row in found]

    async def enqueue_notifications(self, rows: Sequence[tuple[str, str]], at: float) -> int:
        async with self._write() as db:
            await db.executemany(sql.q(fsql.ENQUEUE), [(t, p, at, at) for t, p in rows])
        return len(rows)

    async def claim_notifications(
        self, now: float, lease_until: float, limit: int
    ) -> list[tuple[int, str, str, int]]:
        # Polled every second: an empty queue must not take the write lock.
        if not await self._rows(sql.q(fsql.DUE), now, 1):
            return []
        async with self._write() as db:
            async with db.execute(sql.q(fsql.DUE), (now, limit)) as cur:
                rows = [tuple(r) for r in await cur.fetchall()]
            await db.executemany(sql.q(fsql.LEASE), [(lease_until, r[0]) for r in rows])
        return rows

    async def finish_notifications(self, ids: Sequence[int]) -> None:
        async with self._write() as db:
            await db.executemany(sql.q(fsql.FINISH), [(i,) for i in ids])

    async def retry_notifications(self, ids: Sequence[int], next_at: float, error: str) -> None:
        async with self._write() as db:
            await db.executemany(sql.q(fsql.RETRY), [(next_at, error, i) for i in ids])

    async def pending_notifications(self) -> int:
        return int((await self._rows(fsql.PENDING))[0][0])

    async def suppression_entries(
        self, tenant: str, addresses: Sequence[str]
    ) -> dict[str, Suppression]:
        out: dict[str, Suppression] = {}
        unique = sorted(set(addresses))
        for i in range(0, len(unique), 500):  # SQLite's bound parameters are limited
            part = unique[i : i + 500]
            for row in await self._rows(fsql.entries_sqlite(len(part)), tenant, *part):
                out[row[1]] = sql.suppression(row)
        return out

    async def record_audit(self, entry: AuditEntry) -> int:
        async with self._write() as db:
            cur = await db.execute(sql.q(asql.INSERT_AUDIT), asql.audit_row(entry))
            return int(cur.lastrowid or 0)

    async def audit_entries(
        self, limit: int = 100, before_id: int = 0, actor: str = "", action: str = ""
    ) -> list[AuditEntry]:
        query, args = asql.audit_page(limit, before_id, actor, action)
        rows = await self._rows(sql.q(query), *args)
        return [asql.audit_entry(row) for row in rows]

    # Admin lists (policy/store/admin_sql.py).
    async def suppression_page(
        self, filters: asql.SuppressionFilter, after: tuple[str, str] | None, limit: int
    ) -> list[Suppression]:
        query, args = asql.suppression_page(filters, after, limit, asql.SQLITE_FIND)
        return [sql.suppression(row) for row in await self._rows(sql.q(query), *args)]

    async def suppression_export(
        self, filters: asql.SuppressionFilter, batch: int = 1000
    ) -> AsyncGenerator[list[Suppression], None]:
        # Page by key, not one long cursor: the single connection stays free
        # for the writes that come in while a client reads slowly.
        after = None
        while True:
            page = await self.suppression_page(filters, after, batch)
            if page:
                yield page
            if len(page) < batch:
                return
            after = (page[-1].tenant, page[-1].address)

    async def event_page(
        self, filters: asql.EventFilter, before_id: int, limit: int
    ) -> list[dict[str, Any]]:
        query, args = asql.event_page(filters, before_id, limit, asql.SQLITE_FIND)
        return [asql.event_dict(row) for row in await self._rows(sql.q(query), *args)]

    async def engagement_page(
        self, filters: asql.EngagementFilter, before_id: int, limit: int
    ) -> list[dict[str, Any]]:
        query, args = asql.engagement_page(filters, before_id, limit)
        return [asql.engagement_dict(row) for row in await self._rows(sql.q(query), *args)]

    async def feedback_breakdown(
        self, since: float, until: float, tenant: str | None = None
    ) -> list[tuple[str, str, str, str, int]]:
        query, args = asql.feedback_breakdown(since, until, tenant)
        return [(k, ip, p, r, int(n)) for k, ip, p, r, n in await self._rows(sql.q(query), *args)]


async def _last_seq(db: aiosqlite.Connection) -> int:
    # Under the write lock taken by _write: no other writer can take the same number.
    async with db.execute(sql.LAST_SEQ) as cur:
        row = await cur.fetchone()
    assert row is not None, "an aggregate returns one row"
    return int(row[0])
