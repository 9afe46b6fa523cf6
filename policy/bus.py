"""The in-process event bus: parts of one daemon hear what the others did.

Publishing never waits: each subscriber has its own bounded queue, and a
subscriber that falls behind loses its oldest events (counted), never the
publisher's time. The store, not the bus, is the record; the bus is for
reacting (a scenario trigger on a click, a webhook on a bounce).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Subscription:
    kinds: frozenset[str] | None  # None: every kind
    queue: asyncio.Queue[Any]
    dropped: int = 0

    async def __aiter__(self) -> AsyncIterator[Any]:
        while True:
            yield await self.queue.get()

    async def get(self) -> Any:
        return await self.queue.get()


@dataclass
class Bus:
    subscriptions: list[Subscription] = field(default_factory=list)

    def subscribe(self, *kinds: str, capacity: int = 10_000) -> Subscription:
        """A queue of the events whose `kind` is one of `kinds` (all when none given)."""
        sub = Subscription(frozenset(kinds) or None, asyncio.Queue(maxsize=capacity))
        self.subscriptions.append(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        if sub in self.subscriptions:
            self.subscriptions.remove(sub)

    def publish(self, event: Any) -> None:
        """Hand `event` (anything with a `kind` attribute) to every interested subscriber."""
        kind = getattr(event, "kind", None)
        for sub in self.subscriptions:
            if sub.kinds is not None and kind not in sub.kinds:
                continue
            if sub.queue.full():
                sub.queue.get_nowait()
                sub.dropped += 1
            sub.queue.put_nowait(event)
