"""Reads kept by key, where concurrent misses share one read.

A round runs hundreds of operations at once; when the scenario's definition or
a template is not yet (or no longer) kept, every one of them would miss
together and each read it again, queueing for the store's connections. Here
the first miss starts the read and the others await the same one.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class SharedReads(Generic[K, V]):
    def __init__(
        self,
        read: Callable[[K], Awaitable[V]],
        ttl: float | None = None,  # None: kept for good (what it reads never changes)
        clock: Callable[[], float] = time.monotonic,
        limit: int = 1000,  # kept at most; past it all are dropped (tenants come and go)
    ) -> None:
        self.read, self.ttl, self.clock, self.limit = read, ttl, clock, limit
        self._kept: dict[K, tuple[float, asyncio.Future[V]]] = {}

    async def get(self, key: K) -> V:
        now = self.clock()
        kept = self._kept.get(key)
        if kept is None or kept[0] <= now:
            if len(self._kept) >= self.limit:
                self._kept.clear()
            until = now + self.ttl if self.ttl is not None else float("inf")
            reading = asyncio.ensure_future(self.read(key))
            reading.add_done_callback(lambda f: self._forget_failed(key, f))
            kept = self._kept[key] = (until, reading)
        future = kept[1]
        if future.done() and not future.cancelled() and future.exception() is None:
            return future.result()  # the common case: kept, no await needed
        # Shielded: one caller cancelled does not cancel the read the others await.
        return await asyncio.shield(future)

    def _forget_failed(self, key: K, future: asyncio.Future[V]) -> None:
        if future.cancelled() or future.exception() is not None:
            if self._kept.get(key, (0.0, None))[1] is future:
                del self._kept[key]
