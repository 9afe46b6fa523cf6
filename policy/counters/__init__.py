"""The quota store: atomic all-or-nothing reservations against several limits.

A message takes one unit of every limit that applies to it (the IP's day,
its hour, its day for the recipient's provider) before DATA, and either keeps
it (`commit`, the downstream accepted) or gives it back (`release`, anything
else). Two backends implement `CounterStore`: `memory.MemoryCounters` for one
process and `redis.RedisCounters` for any number of gateway processes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


class CounterUnavailable(Exception):
    """The counter store could not be reached or did not answer in time.

    The gateway defers (451) rather than guess whether a limit has room.
    """


@dataclass(frozen=True)
class Window:
    """Where a counter's count can be rebuilt from: the IP's sent messages since
    ``start`` (Unix seconds), toward provider ``group`` only when it is set."""

    ip: str
    start: float
    group: str | None = None


@dataclass(frozen=True)
class Limit:
    """At most `limit` units under `key`; a new counter lives `ttl` seconds.

    The window belongs in the key's name (a date, an hour); the TTL only has to
    outlast it, so that old counters clean themselves up.
    """

    key: str
    limit: int
    ttl: int
    # Set when the count can be rebuilt from the store's events (a counter store
    # that lost its data, as Redis without persistence does on a restart).
    window: Window | None = None

    def __post_init__(self) -> None:
        if not self.key:
            raise ValueError("a limit needs a key")
        if self.limit < 0:
            raise ValueError(f"limit of {self.key!r} cannot be negative: {self.limit}")
        if self.ttl < 1:
            raise ValueError(f"ttl of {self.key!r} must be at least 1 second: {self.ttl}")


@dataclass(frozen=True)
class Reservation:
    """One unit taken on each of `keys`, until committed or released."""

    id: str
    keys: tuple[str, ...]


@dataclass(frozen=True)
class Refusal:
    """The first limit that had no room; nothing was taken."""

    key: str
    limit: int


def check_limits(limits: Sequence[Limit]) -> None:
    """Refuse a request that names one key twice: it would count a message twice."""
    keys = [limit.key for limit in limits]
    if len(set(keys)) != len(keys):
        raise ValueError(f"duplicate limit keys in one reservation: {keys}")


class CounterStore(Protocol):
    async def reserve(self, limits: Sequence[Limit]) -> Reservation | Refusal:
        """Take one unit of every limit, or of none when any is full."""
        ...

    async def commit(self, *reservations: Reservation) -> None:
        """Keep the units: the message went downstream (all of a message's in one call)."""
        ...

    async def release(self, reservation: Reservation) -> None:
        """Give the units back, once, however often it is called."""
        ...

    async def usage(self, keys: Sequence[str]) -> dict[str, int]:
        """Current counts (0 for a key never used or expired)."""
        ...

    async def ping(self) -> None:
        """Return when the store answers; raise CounterUnavailable otherwise."""
        ...

    async def close(self) -> None: ...
