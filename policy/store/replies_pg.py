"""The replies table on PostgreSQL: a mixin of PostgresStore."""

from __future__ import annotations

from typing import TYPE_CHECKING

from policy.replies.record import ReplyRow, SentMessage
from policy.store import replies_sql as q

if TYPE_CHECKING:
    import asyncpg


class PgReplies:
    if TYPE_CHECKING:

        def _pool(self) -> asyncpg.Pool: ...

    async def sent_message(self, tenant: str, digest: str) -> SentMessage | None:
        row = await self._pool().fetchrow(q.SENT_MESSAGE, tenant, digest)
        return q.sent(row) if row is not None else None

    async def add_reply(self, row: ReplyRow, raw: bytes) -> int | None:
        value = await self._pool().fetchval(q.ADD_REPLY, *q.reply_values(row, raw))
        return int(value) if value is not None else None

    async def replies(
        self, tenant: str, limit: int, before: int | None = None, review: bool | None = None
    ) -> list[ReplyRow]:
        rows = await self._pool().fetch(q.REPLIES, tenant, before, review, limit)
        return [q.reply(r) for r in rows]

    async def reply(self, tenant: str, reply_id: int) -> ReplyRow | None:
        row = await self._pool().fetchrow(q.REPLY, tenant, reply_id)
        return q.reply(row) if row is not None else None

    async def reply_original(self, tenant: str, reply_id: int) -> bytes | None:
        value = await self._pool().fetchval(q.ORIGINAL, tenant, reply_id)
        return bytes(value) if value is not None else None

    async def review_reply(
        self, tenant: str, reply_id: int, classification: str, now: float
    ) -> bool:
        status: str = await self._pool().execute(q.REVIEW, tenant, reply_id, classification, now)
        return status.endswith(" 1")

    async def reply_counts(self, tenant: str, scenario: str) -> list[tuple[str, str, int]]:
        rows = await self._pool().fetch(q.COUNTS, tenant, scenario)
        return [(r[0], r[1], int(r[2])) for r in rows]

    async def postpone_enrollment(self, enrollment: str, due: float, now: float) -> int:
        status = await self._pool().execute(q.POSTPONE, enrollment, due, now)
        return int(status.rpartition(" ")[2] or 0)
