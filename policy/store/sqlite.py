"""The embedded store: one SQLite file, driven off the event loop by aiosqlite."""

from __future__ import annotations

import asyncio
import random
import sqlite3
from pathlib import Path

import aiosqlite

from policy.events import Event
from policy.store.schema import EVENT_COLUMNS, MIGRATIONS


class SqliteStore:
    def __init__(self, path: str):
        self.path = path
        self.db: aiosqlite.Connection | None = None

    async def open(self) -> None:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        # Autocommit mode: transactions are opened explicitly, so the migration
        # can hold the write lock from reading the version to the last CREATE.
        self.db = await aiosqlite.connect(self.path, timeout=30, isolation_level=None)
        await self.db.execute("PRAGMA busy_timeout=30000")
        # Worker processes open the same file together. The switch to WAL needs
        # exclusive access and SQLite does not wait on its busy timeout for it,
        # so the loser retries for a while instead of failing the start.
        for attempt in range(100):
            try:
                await self._migrate()
                return
            except sqlite3.OperationalError as exc:
                if self.db.in_transaction:
                    await self.db.execute("ROLLBACK")
                if "locked" not in str(exc) or attempt == 99:
                    raise
                await asyncio.sleep(0.05 + random.random() * 0.1)

    async def _migrate(self) -> None:
        assert self.db is not None
        await self.db.execute("PRAGMA journal_mode=WAL")
        await self.db.execute("PRAGMA synchronous=NORMAL")
        # Another worker may be migrating the same file: take the write lock first.
        await self.db.execute("BEGIN IMMEDIATE")
        await self.db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER)")
        async with self.db.execute("SELECT coalesce(max(version), 0) FROM schema_version") as cur:
            (current,) = await cur.fetchone()
        for version, sql in MIGRATIONS:
            if version > current:
                await self.db.execute(sql.format(id_column="INTEGER PRIMARY KEY AUTOINCREMENT"))
                await self.db.execute("INSERT INTO schema_version VALUES (?)", (version,))
        await self.db.execute("COMMIT")

    async def close(self) -> None:
        if self.db is not None:
            await self.db.close()
            self.db = None

    async def ping(self) -> None:
        assert self.db is not None, "store not open"
        await self.db.execute("SELECT 1")

    async def record(self, events: list[Event]) -> None:
        assert self.db is not None, "store not open"
        marks = ",".join("?" * len(EVENT_COLUMNS))
        rows = [e.as_row() for e in events]
        await self.db.execute("BEGIN")
        try:
            await self.db.executemany(
                f"INSERT INTO events ({','.join(EVENT_COLUMNS)}) VALUES ({marks})", rows
            )
        except BaseException:
            await self.db.execute("ROLLBACK")
            raise
        await self.db.execute("COMMIT")

    async def recent_events(self, limit: int = 100) -> list[dict]:
        assert self.db is not None, "store not open"
        sql = f"SELECT {','.join(EVENT_COLUMNS)} FROM events ORDER BY id DESC LIMIT ?"
        async with self.db.execute(sql, (limit,)) as cur:
            return [dict(zip(EVENT_COLUMNS, row, strict=True)) for row in await cur.fetchall()]
