"""PostgresStore's provider feedback methods (a mixin: PostgresStore supplies ``_pool``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import astuple
from typing import TYPE_CHECKING, Any

from policy.reputation.provider_feedback import ProviderFinding
from policy.store import provider_sql


class ProviderFeedbackPg:
    if TYPE_CHECKING:  # PostgresStore's own, as for the other mixins

        def _pool(self) -> Any: ...

    async def save_provider_feedback(self, findings: Sequence[ProviderFinding]) -> None:
        async with self._pool().acquire() as conn, conn.transaction():
            await conn.executemany(provider_sql.SAVE, [astuple(f) for f in findings])

    async def provider_feedback(self) -> list[ProviderFinding]:
        return [ProviderFinding(*row) for row in await self._pool().fetch(provider_sql.ALL)]
