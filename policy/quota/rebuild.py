"""Quota counters counted again from the store's events, for a counter store that lost them.

Redis without persistence restarts empty: without this, an IP that had sent
its whole day would start the day again. ``policy.counters.redis`` asks for
a count the first time it meets a window it never counted (marked once per
window, under a Redis ``SET NX``), and seeds the counter with it.

The count is what the events say went out in the window: relayed, possibly
duplicated, and spooled (its unit was kept for the IP it waits for). It errs
high, never low: a spooled message relayed later in the same window counts
twice, the side that sends less. Events still in the recorder's batch (the
last second or so) are not in the store yet.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from policy.counters import Window

SENT = ("relayed", "possible_duplicate", "spooled")


class Events(Protocol):
    """The part of the store the count needs (``policy.store.protocols``)."""

    async def day_counts(self, ip: str, start: float, end: float) -> dict[str, int]: ...

    async def provider_counts(self, ip: str, start: float, end: float) -> dict[str, int]: ...


def from_store(store: Events) -> Callable[[Sequence[Window]], Awaitable[list[int]]]:
    """A ``policy.counters.redis.Seeder``: the messages sent in each window, from ``store``."""

    async def counts(windows: Sequence[Window]) -> list[int]:
        now = time.time() + 1  # events of this very second included
        out = []
        for w in windows:
            if w.group is None:
                by_kind = await store.day_counts(w.ip, w.start, now)
                out.append(sum(by_kind.get(kind, 0) for kind in SENT))
            else:
                out.append((await store.provider_counts(w.ip, w.start, now)).get(w.group, 0))
        return out

    return counts
