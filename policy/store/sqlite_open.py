"""Open the embedded SQLite store: one connection, WAL, the schema brought up to date."""

from __future__ import annotations

import asyncio
import random
import sqlite3
from pathlib import Path

import aiosqlite

from policy.store.schema import MIGRATIONS


async def connect(path: str) -> aiosqlite.Connection:
    """A connection to ``path`` in autocommit mode, migrated to the latest version."""
    if path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    # Autocommit mode: transactions are opened explicitly, so the migration
    # can hold the write lock from reading the version to the last CREATE.
    db = await aiosqlite.connect(path, timeout=30, isolation_level=None)
    await db.execute("PRAGMA busy_timeout=30000")
    # Worker processes open the same file together. The switch to WAL needs
    # exclusive access and SQLite does not wait on its busy timeout for it,
    # so the loser retries for a while instead of failing the start.
    for attempt in range(100):
        try:
            await _migrate(db)
            return db
        except sqlite3.OperationalError as exc:
            if db.in_transaction:
                await db.execute("ROLLBACK")
            if "locked" not in str(exc) or attempt == 99:
                await db.close()
                raise
            await asyncio.sleep(0.05 + random.random() * 0.1)
    raise AssertionError("unreachable: the last attempt raises")


async def _migrate(db: aiosqlite.Connection) -> None:
    await db.execute("PRAGMA journal_mode=WAL")
    await db.execute("PRAGMA synchronous=NORMAL")
    # Another worker may be migrating the same file: take the write lock first.
    await db.execute("BEGIN IMMEDIATE")
    await db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER)")
    async with db.execute("SELECT coalesce(max(version), 0) FROM schema_version") as cur:
        row = await cur.fetchone()
    assert row is not None, "an aggregate returns one row"
    (current,) = row
    for version, migration in MIGRATIONS:
        if version > current:
            migration = migration.format(id_column="INTEGER PRIMARY KEY AUTOINCREMENT")
            for statement in filter(str.strip, migration.split(";")):
                await db.execute(statement)
            await db.execute("INSERT INTO schema_version VALUES (?)", (version,))
    await db.execute("COMMIT")
