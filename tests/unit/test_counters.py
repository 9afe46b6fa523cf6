"""The quota store contract, run against both backends: in-process and real Redis.

The Redis-only tests at the end check what only a shared server can get
wrong: exactness across processes, key names and TTLs, and failing fast when
Redis is gone.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import socket
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from policy.counters import (
    CounterStore,
    CounterUnavailable,
    Limit,
    Refusal,
    Reservation,
)
from policy.counters.memory import MemoryCounters
from policy.counters.redis import RedisCounters
from tests.support import backends
from tests.support.wait import until

ROOT = Path(__file__).resolve().parents[2]
DAY = "day:192.0.2.10:2026-11-21"
HOUR = "hour:192.0.2.10:2026-11-21T14"
GOOGLE = "day:192.0.2.10:2026-11-21:google"


def _glob_escape(text: str) -> str:
    return re.sub(r"([*?\[\]\\])", r"\\\1", text)


@pytest.fixture
async def redis_store(redis_client: Any, redis_prefix: str) -> AsyncIterator[RedisCounters]:
    yield RedisCounters(redis_client, prefix=redis_prefix)
    # Parametrised test names carry brackets, which SCAN reads as a glob class:
    # match the prefix literally so this test's keys do not outlive it.
    pattern = _glob_escape(redis_prefix) + "*"
    leftover = [k async for k in redis_client.scan_iter(match=pattern, count=1000)]
    if leftover:
        await redis_client.delete(*leftover)


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def store(request: pytest.FixtureRequest) -> CounterStore:
    if request.param == "memory":
        return MemoryCounters()
    return request.getfixturevalue("redis_store")


async def _granted(store: CounterStore, limits: list[Limit]) -> Reservation:
    result = await store.reserve(limits)
    assert isinstance(result, Reservation), result
    return result


async def test_grants_up_to_the_limit_then_names_it(store: CounterStore) -> None:
    limits = [Limit(DAY, 3, 3600)]
    for _ in range(3):
        await _granted(store, limits)
    assert await store.reserve(limits) == Refusal(key=DAY, limit=3)
    assert await store.usage([DAY, "day:unused"]) == {DAY: 3, "day:unused": 0}


async def test_a_zero_limit_refuses_everything(store: CounterStore) -> None:
    assert await store.reserve([Limit(DAY, 0, 60)]) == Refusal(DAY, 0)
    assert await store.usage([DAY]) == {DAY: 0}


async def test_all_or_nothing(store: CounterStore) -> None:
    limits = [Limit(DAY, 10, 3600), Limit(HOUR, 1, 3600)]
    reservation = await _granted(store, limits)
    assert reservation.keys == (DAY, HOUR)
    assert await store.reserve(limits) == Refusal(HOUR, 1)
    # The refused request took nothing from the limit that still had room.
    assert await store.usage([DAY, HOUR]) == {DAY: 1, HOUR: 1}


async def test_hourly_and_provider_limits(store: CounterStore) -> None:
    google = [Limit(DAY, 100, 86400), Limit(HOUR, 10, 3600), Limit(GOOGLE, 5, 86400)]
    other = google[:2]
    outcomes = [await store.reserve(google) for _ in range(7)]
    assert sum(isinstance(o, Reservation) for o in outcomes) == 5
    assert outcomes[-1] == Refusal(GOOGLE, 5)
    outcomes = [await store.reserve(other) for _ in range(7)]
    assert sum(isinstance(o, Reservation) for o in outcomes) == 5
    assert outcomes[-1] == Refusal(HOUR, 10)
    assert await store.usage([DAY, HOUR, GOOGLE]) == {DAY: 10, HOUR: 10, GOOGLE: 5}


async def test_release_gives_back_once(store: CounterStore) -> None:
    limits = [Limit(DAY, 2, 3600), Limit(HOUR, 2, 3600)]
    kept = await _granted(store, limits)
    await store.commit(kept)
    released = await _granted(store, limits)
    await store.release(released)
    await store.release(released)
    assert await store.usage([DAY, HOUR]) == {DAY: 1, HOUR: 1}
    # Committed units stay committed, whatever comes after.
    await store.release(kept)
    await store.commit(kept)
    assert await store.usage([DAY, HOUR]) == {DAY: 1, HOUR: 1}
    # A release that came first is not undone by a late commit.
    late = await _granted(store, limits)
    await store.release(late)
    await store.commit(late)
    assert await store.usage([DAY, HOUR]) == {DAY: 1, HOUR: 1}


async def test_released_units_can_be_taken_again(store: CounterStore) -> None:
    limits = [Limit(DAY, 1, 3600)]
    first = await _granted(store, limits)
    assert isinstance(await store.reserve(limits), Refusal)
    await store.release(first)
    await _granted(store, limits)


async def test_counters_expire(store: CounterStore) -> None:
    limits = [Limit(DAY, 1, 1)]
    stale = await _granted(store, limits)
    assert isinstance(await store.reserve(limits), Refusal)
    # Redis expires the key on its own clock: wait for it, no longer.
    await until(lambda: store.usage([DAY]), done=lambda u: u == {DAY: 0}, what="expiry")
    fresh = await _granted(store, limits)
    # Releasing the stale reservation must not eat into the new window.
    await store.release(stale)
    assert await store.usage([DAY]) == {DAY: 1}
    await store.release(fresh)
    assert await store.usage([DAY]) == {DAY: 0}


async def test_no_limits_is_an_empty_reservation(store: CounterStore) -> None:
    reservation = await _granted(store, [])
    assert reservation.keys == ()
    await store.commit(reservation)
    await store.release(reservation)


async def test_one_key_twice_is_refused(store: CounterStore) -> None:
    with pytest.raises(ValueError, match="duplicate"):
        await store.reserve([Limit(DAY, 5, 60), Limit(DAY, 5, 60)])


async def test_ping(store: CounterStore) -> None:
    await store.ping()


async def test_exact_under_concurrency(store: CounterStore) -> None:
    limits = [Limit(DAY, 500, 3600)]
    granted: list[Reservation] = []

    async def worker() -> None:
        for _ in range(40):
            result = await store.reserve(limits)
            if isinstance(result, Reservation):
                granted.append(result)

    await asyncio.gather(*(worker() for _ in range(50)))
    assert len(granted) == 500
    assert await store.usage([DAY]) == {DAY: 500}
    gate = asyncio.Semaphore(20)

    async def release(reservation: Reservation) -> None:
        async with gate:
            await store.release(reservation)

    await asyncio.gather(*(release(r) for r in granted))
    assert await store.usage([DAY]) == {DAY: 0}


async def test_exact_with_releases_interleaved(store: CounterStore) -> None:
    limits = [Limit(DAY, 1000, 3600), Limit(HOUR, 100, 3600)]
    rng = random.Random(7)
    granted = released = 0

    async def worker() -> None:
        nonlocal granted, released
        for _ in range(20):
            result = await store.reserve(limits)
            if isinstance(result, Refusal):
                continue
            granted += 1
            await asyncio.sleep(0)  # other workers reserve between this reserve and its settling
            if rng.random() < 0.5:
                await store.release(result)
                released += 1
            else:
                await store.commit(result)

    await asyncio.gather(*(worker() for _ in range(20)))
    kept = granted - released
    assert kept <= 100
    assert await store.usage([DAY, HOUR]) == {DAY: kept, HOUR: kept}


# --- Redis only ---------------------------------------------------------------


@pytest.mark.redis
async def test_redis_cancelled_reserves_leave_nothing_taken(redis_store: RedisCounters) -> None:
    limits = [Limit(DAY, 1000, 600)]
    finished: list[Reservation] = []
    for i in range(60):
        task = asyncio.create_task(redis_store.reserve(limits))
        for _ in range(i % 6):  # cancelled at a different point of the round trip each time
            await asyncio.sleep(0)
        task.cancel()
        try:
            result = await task
        except asyncio.CancelledError:
            continue
        assert isinstance(result, Reservation)
        finished.append(result)
    for reservation in finished:
        await redis_store.release(reservation)
    await redis_store.close()
    assert await redis_store.usage([DAY]) == {DAY: 0}


@pytest.mark.redis
async def test_redis_keys_are_prefixed_and_expire(redis_client: Any, redis_prefix: str) -> None:
    store = RedisCounters(redis_client, prefix=redis_prefix)
    reservation = await _granted(store, [Limit(DAY, 5, 600), Limit(HOUR, 5, 120)])
    quota_day = f"{redis_prefix}quota:{DAY}"
    marker = f"{redis_prefix}resv:{reservation.id}"
    assert 0 < await redis_client.ttl(quota_day) <= 600
    assert 0 < await redis_client.ttl(f"{redis_prefix}quota:{HOUR}") <= 120
    assert 0 < await redis_client.ttl(marker) <= 600
    await store.commit(reservation)
    assert not await redis_client.exists(marker)
    # A counter that lost its TTL gets one back on its next reservation.
    await redis_client.persist(quota_day)
    await _granted(store, [Limit(DAY, 5, 600)])
    assert 0 < await redis_client.ttl(quota_day) <= 600


@pytest.mark.redis
async def test_redis_prefixes_do_not_share(redis_client: Any, redis_prefix: str) -> None:
    a = RedisCounters(redis_client, prefix=redis_prefix + "a:")
    b = RedisCounters(redis_client, prefix=redis_prefix + "b:")
    await _granted(a, [Limit(DAY, 1, 60)])
    await _granted(b, [Limit(DAY, 1, 60)])
    assert await a.usage([DAY]) == await b.usage([DAY]) == {DAY: 1}


_WORKER = """
import asyncio, sys, time
from policy.counters import Limit, Reservation
from policy.counters.redis import RedisCounters

async def main(url, prefix, attempts, start):
    store = RedisCounters.from_url(url, prefix=prefix, socket_timeout=5)
    limits = [Limit("day:192.0.2.10:2026-11-21", 500, 600)]
    gate = asyncio.Semaphore(25)
    granted = 0

    async def one():
        nonlocal granted
        async with gate:
            if isinstance(await store.reserve(limits), Reservation):
                granted += 1

    await store.ping()
    await asyncio.sleep(max(0.0, start - time.time()))
    await asyncio.gather(*(one() for _ in range(attempts)))
    await store.close()
    print(granted)

asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])))
"""


@pytest.mark.redis
@pytest.mark.slow
async def test_redis_exact_across_processes(redis_client: Any, redis_prefix: str) -> None:
    # Every worker starts at the same instant, so they really compete.
    start = time.time() + 2.0
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _WORKER,
            backends.REDIS_URL,
            redis_prefix,
            "300",
            str(start),
            cwd=ROOT,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for _ in range(4)
    ]
    counts = []
    for proc in procs:
        out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
        assert proc.returncode == 0, err.decode()
        counts.append(int(out))
    assert sum(counts) == 500
    assert sum(1 for c in counts if c) >= 2, counts
    store = RedisCounters(redis_client, prefix=redis_prefix)
    assert await store.usage([DAY]) == {DAY: 500}


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_redis_down_fails_fast() -> None:
    store = RedisCounters.from_url(f"redis://127.0.0.1:{_closed_port()}/0")
    reservation = Reservation(id="r1", keys=(DAY,))
    try:
        for call in (
            lambda: store.reserve([Limit(DAY, 5, 60)]),
            lambda: store.commit(reservation),
            lambda: store.release(reservation),
            lambda: store.usage([DAY]),
            store.ping,
        ):
            started = time.monotonic()
            with pytest.raises(CounterUnavailable, match="redis"):
                await call()
            assert time.monotonic() - started < 1.0
    finally:
        await store.close()


@pytest.fixture
async def silent_server() -> AsyncIterator[int]:
    """A TCP server that accepts and reads but never answers, like a hung Redis."""

    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await reader.read(4096):
            pass
        writer.close()

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


@pytest.mark.redis
async def test_pool_waits_for_a_free_connection(redis_client: Any, redis_prefix: str) -> None:
    store = RedisCounters.from_url(
        backends.REDIS_URL, prefix=redis_prefix, max_connections=4, socket_timeout=2
    )
    try:
        limits = [Limit(DAY, 150, 60)]
        results = await asyncio.gather(*(store.reserve(limits) for _ in range(200)))
        assert sum(isinstance(r, Reservation) for r in results) == 150
    finally:
        await store.close()


async def test_hung_redis_fails_fast(silent_server: int) -> None:
    store = RedisCounters.from_url(f"redis://127.0.0.1:{silent_server}/0", socket_timeout=0.2)
    try:
        started = time.monotonic()
        with pytest.raises(CounterUnavailable):
            await store.reserve([Limit(DAY, 5, 60)])
        assert time.monotonic() - started < 1.0
    finally:
        await store.close()
