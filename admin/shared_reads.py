"""Concurrent identical reads share one computation, never one older than themselves.

A dashboard, a status page and a sender's script polling the same tenant's
quotas ask the same question many times a second; each answer reads every
IP's state and counters and encodes a large document. Requests for one key
queue; the first computes, and each one behind it takes that answer only if
the computation started after the request arrived. So an answer is never
older than its request (a change made before asking is always seen), and
twenty waiting clients cost two computations, not twenty.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

T = TypeVar("T")


class SharedReads(Generic[T]):
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._locks: dict[Hashable, asyncio.Lock] = {}
        self._last: dict[Hashable, tuple[float, T]] = {}  # key -> (when it started, answer)

    async def get(self, key: Hashable, compute: Callable[[], Awaitable[T]]) -> T:
        arrived = self._clock()
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            last = self._last.get(key)
            if last is not None and last[0] > arrived:
                return last[1]
            started = self._clock()
            # A failure is not kept: the next request in line computes for itself.
            answer = await compute()
            self._last[key] = (started, answer)
            return answer
