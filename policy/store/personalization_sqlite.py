"""SqliteStore's first-line cache and token counts (a mixin: SqliteStore supplies ``_write``,
``_rows``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from policy.store import personalization_sql as q
from policy.store import sql

CHUNK = 500  # keys per IN (...): well under SQLite's variable limit


class PersonalizationSqlite:
    if TYPE_CHECKING:  # SqliteStore's own, as for the other mixins

        def _write(self) -> Any: ...

        async def _rows(self, statement: str, *args: object) -> list[tuple[Any, ...]]: ...

    async def cached_first_lines(self, tenant: str, keys: Sequence[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for i in range(0, len(keys), CHUNK):
            chunk = list(keys[i : i + CHUNK])
            found.update(await self._rows(q.cached_sqlite(len(chunk)), tenant, *chunk))
        return found

    async def save_first_lines(
        self, tenant: str, lines: Mapping[str, tuple[str, int]], model: str, now: float
    ) -> None:
        rows = [(tenant, k, text, model, tokens, now) for k, (text, tokens) in lines.items()]
        async with self._write() as db:
            await db.executemany(sql.q(q.SAVE_LINE), rows)

    async def add_ai_tokens(self, tenant: str, day: str, tokens: int) -> None:
        async with self._write() as db:
            await db.execute(sql.q(q.ADD_TOKENS), (tenant, day, tokens))

    async def ai_tokens(self, tenant: str, day: str) -> int:
        rows = await self._rows(sql.q(q.TOKENS), tenant, day)
        return int(rows[0][0]) if rows else 0
