"""SqliteStore's provider feedback methods (a mixin: SqliteStore supplies ``_write``, ``_rows``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import astuple
from typing import TYPE_CHECKING, Any

from policy.reputation.provider_feedback import ProviderFinding
from policy.store import provider_sql, sql


class ProviderFeedbackSqlite:
    if TYPE_CHECKING:  # SqliteStore's own, as for the other mixins

        def _write(self) -> Any: ...

        async def _rows(self, statement: str, *args: object) -> list[tuple[Any, ...]]: ...

    async def save_provider_feedback(self, findings: Sequence[ProviderFinding]) -> None:
        async with self._write() as db:
            await db.executemany(sql.q(provider_sql.SAVE), [astuple(f) for f in findings])

    async def provider_feedback(self) -> list[ProviderFinding]:
        return [ProviderFinding(*row) for row in await self._rows(sql.q(provider_sql.ALL))]
