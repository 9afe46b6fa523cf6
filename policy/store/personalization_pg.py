"""PostgresStore's first-line cache and token counts (a mixin: PostgresStore supplies ``_pool``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from policy.store import personalization_sql as q


class PersonalizationPg:
    if TYPE_CHECKING:  # PostgresStore's own, as for the other mixins

        def _pool(self) -> Any: ...

    async def cached_first_lines(self, tenant: str, keys: Sequence[str]) -> dict[str, str]:
        if not keys:
            return {}
        return {k: t for k, t in await self._pool().fetch(q.CACHED_PG, tenant, list(keys))}

    async def save_first_lines(
        self, tenant: str, lines: Mapping[str, tuple[str, int]], model: str, now: float
    ) -> None:
        rows = [(tenant, k, text, model, tokens, now) for k, (text, tokens) in lines.items()]
        async with self._pool().acquire() as conn, conn.transaction():
            await conn.executemany(q.SAVE_LINE, rows)

    async def add_ai_tokens(self, tenant: str, day: str, tokens: int) -> None:
        await self._pool().execute(q.ADD_TOKENS, tenant, day, tokens)

    async def ai_tokens(self, tenant: str, day: str) -> int:
        value = await self._pool().fetchval(q.TOKENS, tenant, day)
        return int(value or 0)
