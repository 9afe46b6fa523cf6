"""The production store: PostgreSQL through an asyncpg pool."""

from __future__ import annotations

import asyncpg

from policy.events import Event
from policy.store.schema import EVENT_COLUMNS, MIGRATIONS

# Several gateway hosts may start at once against one database.
MIGRATION_LOCK = 0x5100CE


class PostgresStore:
    def __init__(self, dsn: str, *, min_size: int = 1, max_size: int = 10):
        self.dsn = dsn
        self.min_size = min_size
        self.max_size = max_size
        self.pool: asyncpg.Pool | None = None

    async def open(self) -> None:
        self.pool = await asyncpg.create_pool(
            self.dsn, min_size=self.min_size, max_size=self.max_size, command_timeout=10
        )
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
            await conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER)")
            current = await conn.fetchval("SELECT coalesce(max(version), 0) FROM schema_version")
            for version, sql in MIGRATIONS:
                if version > current:
                    await conn.execute(sql.format(id_column="BIGSERIAL PRIMARY KEY"))
                    await conn.execute("INSERT INTO schema_version VALUES ($1)", version)

    async def close(self) -> None:
        if self.pool is not None:
            await self.pool.close()
            self.pool = None

    async def ping(self) -> None:
        assert self.pool is not None, "store not open"
        await self.pool.fetchval("SELECT 1")

    async def record(self, events: list[Event]) -> None:
        assert self.pool is not None, "store not open"
        rows = [e.as_row() for e in events]
        await self.pool.copy_records_to_table("events", records=rows, columns=list(EVENT_COLUMNS))

    async def recent_events(self, limit: int = 100) -> list[dict]:
        assert self.pool is not None, "store not open"
        sql = f"SELECT {','.join(EVENT_COLUMNS)} FROM events ORDER BY id DESC LIMIT $1"
        return [dict(r) for r in await self.pool.fetch(sql, limit)]
