"""Quota counters in Redis, shared by every gateway process.

Each reserve is one Lua script, so the check of every limit and the increment
of every counter happen as one step on the server, whatever the number of
processes. Counters expire on their own; a reservation leaves a marker key so
that a release gives units back at most once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from policy import keys as redis_keys
from policy.counters import CounterUnavailable, Limit, Refusal, Reservation, Window, check_limits

log = logging.getLogger("sluice.counters")

# Counts of sent messages per window, from the durable store (policy.quota.rebuild).
Seeder = Callable[[Sequence[Window]], Awaitable[Sequence[int]]]
# The store answers within this, or counting starts from zero (as without a seeder)
# and seeding pauses for SEED_PAUSE: the store's outage must not hold every RCPT.
SEED_TIMEOUT = 1.0
SEED_PAUSE = 30.0

# KEYS[1] is the reservation marker, KEYS[2..n+1] the counters, KEYS[n+2..]
# their seeded markers. ARGV[1] is the marker's TTL, then a (limit, ttl, check)
# triple per counter. Returns 0 when every counter was incremented, else the
# 1-based index of the first full limit, or -1 when a counter to check was
# never counted from the store (Redis lost it): nothing was changed then.
_RESERVE = """
local n = (#KEYS - 1) / 2
for i = 1, n do
  if ARGV[3 * i + 1] == '1' and redis.call('EXISTS', KEYS[n + 1 + i]) == 0 then
    return -1
  end
end
for i = 1, n do
  local count = tonumber(redis.call('GET', KEYS[i + 1]) or '0')
  if count + 1 > tonumber(ARGV[3 * i - 1]) then
    return i
  end
end
for i = 1, n do
  local key = KEYS[i + 1]
  local count = redis.call('INCR', key)
  if count == 1 or redis.call('TTL', key) == -1 then
    redis.call('EXPIRE', key, ARGV[3 * i])
  end
end
redis.call('SET', KEYS[1], '1', 'EX', ARGV[1])
return 0
"""

# KEYS are (seeded marker, counter) pairs, ARGV (count, ttl) pairs. The first
# process to set a marker writes the count from the store's events, and only
# into an absent counter: one that lives (reservations since) is kept as it is.
_SEED = """
for i = 1, #KEYS / 2 do
  if redis.call('SET', KEYS[2 * i - 1], '1', 'NX', 'EX', ARGV[2 * i]) then
    redis.call('SET', KEYS[2 * i], ARGV[2 * i - 1], 'NX', 'EX', ARGV[2 * i])
  end
end
return 0
"""

# KEYS[1] is the marker, KEYS[2..] the counters. Only the call that deletes the
# marker gives the units back; counters that expired meanwhile are left alone
# rather than recreated below zero without a TTL.
_RELEASE = """
if redis.call('DEL', KEYS[1]) == 0 then
  return 0
end
for i = 2, #KEYS do
  local count = tonumber(redis.call('GET', KEYS[i]) or '0')
  if count > 0 then
    redis.call('DECR', KEYS[i])
  end
end
return 1
"""


@contextlib.contextmanager
def _unavailable(action: str) -> Iterator[None]:
    try:
        yield
    except (RedisError, OSError) as exc:
        raise CounterUnavailable(f"redis {action} failed: {exc}") from exc


class RedisCounters:
    """Counters under `prefix` in the Redis behind `client`.

    Give it a client without retries (as `from_url` builds): a retried
    reserve whose first attempt did reach the server takes its units twice.
    """

    def __init__(
        self,
        client: aioredis.Redis,
        *,
        prefix: str = redis_keys.DEFAULT_PREFIX,
        owns_client: bool = False,
        seeder: Seeder | None = None,
    ) -> None:
        self._client = client
        self._prefix = prefix
        self._owns_client = owns_client
        # Rebuilds a counter that Redis lost (a restart without persistence).
        self.seeder = seeder
        self._seed_paused_until = 0.0
        self._reserve = client.register_script(_RESERVE)
        self._release = client.register_script(_RELEASE)
        self._seed = client.register_script(_SEED)
        self._abandoned: set[asyncio.Future[Reservation | Refusal]] = set()
        self._background: set[asyncio.Task[None]] = set()

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        prefix: str = redis_keys.DEFAULT_PREFIX,
        socket_timeout: float = 0.2,
        max_connections: int = 64,
        pool_timeout: float = 1.0,
    ) -> RedisCounters:
        """A store with its own client that fails fast when Redis is down or slow.

        Callers beyond `max_connections` wait up to `pool_timeout` for a free
        connection instead of failing at once.
        """
        pool = aioredis.BlockingConnectionPool.from_url(
            url,
            max_connections=max_connections,
            timeout=pool_timeout,
            socket_timeout=socket_timeout,
            socket_connect_timeout=socket_timeout,
            retry=Retry(NoBackoff(), 0),
        )
        return cls(aioredis.Redis.from_pool(pool), prefix=prefix, owns_client=True)

    def _keys(self, reservation_id: str, counter_keys: Sequence[str]) -> list[str]:
        return [
            redis_keys.reservation(self._prefix, reservation_id),
            *(redis_keys.quota(self._prefix, key) for key in counter_keys),
        ]

    async def reserve(self, limits: Sequence[Limit]) -> Reservation | Refusal:
        check_limits(limits)
        reservation = Reservation(id=secrets.token_hex(12), keys=tuple(lm.key for lm in limits))
        if not limits:
            return reservation
        attempt = asyncio.ensure_future(self._take(reservation, limits))
        try:
            # Shielded: when the caller is cancelled (its client hung up) the
            # script may still run, and its units must come back to the pool.
            return await asyncio.shield(attempt)
        except asyncio.CancelledError:
            self._abandoned.add(attempt)
            attempt.add_done_callback(self._abandoned.discard)
            attempt.add_done_callback(self._release_abandoned)
            raise

    async def _take(
        self, reservation: Reservation, limits: Sequence[Limit]
    ) -> Reservation | Refusal:
        try:
            with _unavailable("reserve"):
                full = await self._run_reserve(reservation, limits, check=self._seeding())
                if full < 0:  # a counter Redis lost: count it from the store, once
                    await self._rebuild(limits)
                    full = await self._run_reserve(reservation, limits, check=False)
        except CounterUnavailable as exc:
            if isinstance(exc.__cause__, RedisTimeoutError):
                # The script may have run before the reply was lost: give back
                # whatever it took, or the units stay taken until they expire.
                with contextlib.suppress(CounterUnavailable):
                    await self.release(reservation)
            raise
        if full:
            refused = limits[full - 1]
            return Refusal(key=refused.key, limit=refused.limit)
        return reservation

    async def _run_reserve(
        self, reservation: Reservation, limits: Sequence[Limit], *, check: bool
    ) -> int:
        args: list[int] = [max(lm.ttl for lm in limits)]
        for lm in limits:
            args += [lm.limit, lm.ttl, int(check and lm.window is not None)]
        seeded = [redis_keys.seeded(self._prefix, lm.key) for lm in limits]
        keys = self._keys(reservation.id, reservation.keys) + seeded
        return int(await self._reserve(keys=keys, args=args))

    def _seeding(self) -> bool:
        return self.seeder is not None and time.monotonic() >= self._seed_paused_until

    async def _rebuild(self, limits: Sequence[Limit]) -> None:
        """Count the windows of ``limits`` from the store and seed the counters Redis lacks."""
        windowed = [lm for lm in limits if lm.window is not None]
        if self.seeder is None or not windowed:
            return
        try:
            async with asyncio.timeout(SEED_TIMEOUT):
                counts = await self.seeder([lm.window for lm in windowed if lm.window])
        except Exception as exc:  # the store is down or slow: count from zero, as before
            self._seed_paused_until = time.monotonic() + SEED_PAUSE
            log.warning("quota counters not rebuilt (store: %r); counting from zero", exc)
            return
        keys: list[str] = []
        args: list[int] = []
        for lm, count in zip(windowed, counts, strict=True):
            keys += [
                redis_keys.seeded(self._prefix, lm.key),
                redis_keys.quota(self._prefix, lm.key),
            ]
            args += [count, lm.ttl]
        await self._seed(keys=keys, args=args)
        log.info(
            "quota counters counted from the store: %s",
            ", ".join(f"{lm.key}={n}" for lm, n in zip(windowed, counts, strict=True)),
        )

    def _release_abandoned(self, attempt: asyncio.Future[Reservation | Refusal]) -> None:
        if attempt.cancelled() or attempt.exception() is not None:
            return
        result = attempt.result()
        if isinstance(result, Reservation):
            task = asyncio.get_running_loop().create_task(self._release_quietly(result))
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    async def _release_quietly(self, reservation: Reservation) -> None:
        with contextlib.suppress(CounterUnavailable):
            await self.release(reservation)

    async def commit(self, *reservations: Reservation) -> None:
        # One DEL for the whole message: a round trip per message, not per recipient.
        markers = [redis_keys.reservation(self._prefix, r.id) for r in reservations if r.keys]
        if not markers:
            return
        with _unavailable("commit"):
            await self._client.delete(*markers)

    async def release(self, reservation: Reservation) -> None:
        if not reservation.keys:
            return
        with _unavailable("release"):
            await self._release(keys=self._keys(reservation.id, reservation.keys))

    async def usage(self, keys: Sequence[str]) -> dict[str, int]:
        if not keys:
            return {}
        with _unavailable("usage"):
            values = await self._client.mget([redis_keys.quota(self._prefix, k) for k in keys])
        return {key: int(value or 0) for key, value in zip(keys, values, strict=True)}

    async def ping(self) -> None:
        with _unavailable("ping"):
            await self._client.ping()

    async def close(self) -> None:
        """Finish giving back abandoned reservations, then close an owned client."""
        # Attempts first: as each finishes, its callback queues the release
        # awaited next.
        if self._abandoned:
            await asyncio.gather(*self._abandoned, return_exceptions=True)
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        if self._owns_client:
            await self._client.aclose()
