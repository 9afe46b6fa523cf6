"""The replies table on SQLite: a mixin of SqliteStore."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from policy.replies.record import ReplyRow, SentMessage
from policy.store import replies_sql as q
from policy.store.scenarios_sqlite import marks

if TYPE_CHECKING:
    import aiosqlite


class SqliteReplies:
    if TYPE_CHECKING:

        def _write(self) -> contextlib.AbstractAsyncContextManager[aiosqlite.Connection]: ...

        async def _rows(self, sql: str, *args: object) -> list[tuple[Any, ...]]: ...

    async def sent_message(self, tenant: str, digest: str) -> SentMessage | None:
        rows = await self._rows(marks(q.SENT_MESSAGE), tenant, digest)
        return q.sent(rows[0]) if rows else None

    async def add_reply(self, row: ReplyRow, raw: bytes) -> int | None:
        async with (
            self._write() as db,
            db.execute(marks(q.ADD_REPLY), q.reply_values(row, raw)) as cur,
        ):
            found = await cur.fetchone()
        return int(found[0]) if found is not None else None

    async def replies(
        self, tenant: str, limit: int, before: int | None = None, review: bool | None = None
    ) -> list[ReplyRow]:
        rows = await self._rows(marks(q.REPLIES_SQLITE), tenant, before, review, limit)
        return [q.reply(r) for r in rows]

    async def reply(self, tenant: str, reply_id: int) -> ReplyRow | None:
        rows = await self._rows(marks(q.REPLY), tenant, reply_id)
        return q.reply(rows[0]) if rows else None

    async def reply_original(self, tenant: str, reply_id: int) -> bytes | None:
        rows = await self._rows(marks(q.ORIGINAL), tenant, reply_id)
        return bytes(rows[0][0]) if rows else None

    async def review_reply(
        self, tenant: str, reply_id: int, classification: str, now: float
    ) -> bool:
        async with self._write() as db:
            cur = await db.execute(marks(q.REVIEW), (tenant, reply_id, classification, now))
            return cur.rowcount == 1

    async def reply_counts(self, tenant: str, scenario: str) -> list[tuple[str, str, int]]:
        rows = await self._rows(marks(q.COUNTS), tenant, scenario)
        return [(r[0], r[1], int(r[2])) for r in rows]

    async def postpone_enrollment(self, enrollment: str, due: float, now: float) -> int:
        async with self._write() as db:
            cur = await db.execute(marks(q.POSTPONE), (enrollment, due, now))
            return cur.rowcount
