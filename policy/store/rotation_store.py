"""Each pool's IP rotation: when the next retirement is due and what the last round said.

Mixins for both stores (PostgresStore supplies ``_pool``, SqliteStore ``_write`` and
``_rows``), beside the IP records whose ``schedule`` column marks an IP the rotation
took out of service.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from policy.store import sql

ROTATION = "SELECT pool, next_at, note, updated FROM ip_rotation WHERE pool = $1"
SAVE = """INSERT INTO ip_rotation (pool, next_at, note, updated) VALUES ($1, $2, $3, $4)
    ON CONFLICT (pool) DO UPDATE SET next_at = excluded.next_at, note = excluded.note,
    updated = excluded.updated"""


@dataclass(frozen=True)
class RotationRecord:
    pool: str
    next_at: float  # when the next retirement is due
    note: str  # what the last round decided, or why it waited
    updated: float


class RotationStore(Protocol):
    async def rotation(self, pool: str) -> RotationRecord | None: ...
    async def save_rotation(self, record: RotationRecord) -> None: ...


class RotationPg:
    if TYPE_CHECKING:

        def _pool(self) -> Any: ...

    async def rotation(self, pool: str) -> RotationRecord | None:
        row = await self._pool().fetchrow(ROTATION, pool)
        return RotationRecord(*row) if row is not None else None

    async def save_rotation(self, record: RotationRecord) -> None:
        r = record
        await self._pool().execute(SAVE, r.pool, r.next_at, r.note, r.updated)


class RotationSqlite:
    if TYPE_CHECKING:

        def _write(self) -> Any: ...

        async def _rows(self, statement: str, *args: object) -> list[tuple[Any, ...]]: ...

    async def rotation(self, pool: str) -> RotationRecord | None:
        rows = await self._rows(sql.q(ROTATION), pool)
        return RotationRecord(*rows[0]) if rows else None

    async def save_rotation(self, record: RotationRecord) -> None:
        r = record
        async with self._write() as db:
            await db.execute(sql.q(SAVE), (r.pool, r.next_at, r.note, r.updated))
