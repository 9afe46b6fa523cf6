"""In-process quota counters for a single gateway process.

Atomicity comes from asyncio itself: `reserve` checks and increments without
awaiting in between, so no other task can run inside it.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Sequence

from policy.counters import Limit, Refusal, Reservation, check_limits

# How often expired counters are swept; in between they are only ignored.
_SWEEP_EVERY = 60.0


class MemoryCounters:
    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._counts: dict[str, tuple[int, float]] = {}
        self._pending: dict[str, float] = {}
        self._next_sweep = clock() + _SWEEP_EVERY

    def _count(self, key: str, now: float) -> int:
        entry = self._counts.get(key)
        return entry[0] if entry is not None and entry[1] > now else 0

    def _sweep(self, now: float) -> None:
        if now < self._next_sweep:
            return
        self._next_sweep = now + _SWEEP_EVERY
        for key in [k for k, (_, expires) in self._counts.items() if expires <= now]:
            del self._counts[key]
        for rid in [r for r, expires in self._pending.items() if expires <= now]:
            del self._pending[rid]

    async def reserve(self, limits: Sequence[Limit]) -> Reservation | Refusal:
        check_limits(limits)
        now = self._clock()
        self._sweep(now)
        for limit in limits:
            if self._count(limit.key, now) + 1 > limit.limit:
                return Refusal(key=limit.key, limit=limit.limit)
        for limit in limits:
            entry = self._counts.get(limit.key)
            if entry is None or entry[1] <= now:
                self._counts[limit.key] = (1, now + limit.ttl)
            else:
                self._counts[limit.key] = (entry[0] + 1, entry[1])
        reservation = Reservation(id=secrets.token_hex(12), keys=tuple(lm.key for lm in limits))
        if limits:
            self._pending[reservation.id] = now + max(lm.ttl for lm in limits)
        return reservation

    async def commit(self, *reservations: Reservation) -> None:
        for reservation in reservations:
            self._pending.pop(reservation.id, None)

    async def release(self, reservation: Reservation) -> None:
        expires = self._pending.pop(reservation.id, None)
        now = self._clock()
        # Past its marker's life the units belong to a later window of the same key.
        if expires is None or expires <= now:
            return
        for key in reservation.keys:
            entry = self._counts.get(key)
            # A counter that expired meanwhile has nothing left to give back.
            if entry is not None and entry[1] > now and entry[0] > 0:
                self._counts[key] = (entry[0] - 1, entry[1])

    async def usage(self, keys: Sequence[str]) -> dict[str, int]:
        now = self._clock()
        return {key: self._count(key, now) for key in keys}

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        return None
