"""The store's protocol for replies to scenario mail (scheduler/replies.py)."""

from __future__ import annotations

from typing import Protocol

from policy.replies.record import ReplyRow, SentMessage


class ReplyStore(Protocol):
    # The executed scenario send whose Message-ID starts with ``digest`` (32 hex).
    async def sent_message(self, tenant: str, digest: str) -> SentMessage | None: ...
    # Stores a reply with its original bytes; None when its key is already stored.
    async def add_reply(self, row: ReplyRow, raw: bytes) -> int | None: ...
    async def replies(
        self, tenant: str, limit: int, before: int | None = None, review: bool | None = None
    ) -> list[ReplyRow]: ...
    async def reply(self, tenant: str, reply_id: int) -> ReplyRow | None: ...
    async def reply_original(self, tenant: str, reply_id: int) -> bytes | None: ...
    # An operator's class: review done. False when there is no such reply.
    async def review_reply(
        self, tenant: str, reply_id: int, classification: str, now: float
    ) -> bool: ...
    # (step, class, replies) of a scenario.
    async def reply_counts(self, tenant: str, scenario: str) -> list[tuple[str, str, int]]: ...
    # Moves the enrollment's waiting operations to ``due`` at the earliest; how many moved.
    async def postpone_enrollment(self, enrollment: str, due: float, now: float) -> int: ...
