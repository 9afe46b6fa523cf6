"""Kept reads: concurrent misses share one read; a failed read is not kept; the TTL holds."""

from __future__ import annotations

import asyncio

import pytest

from scheduler.scenarios.shared_reads import SharedReads


class Reader:
    def __init__(self) -> None:
        self.reads: list[str] = []
        self.fail = False

    async def __call__(self, key: str) -> str:
        self.reads.append(key)
        await asyncio.sleep(0.01)
        if self.fail:
            raise LookupError(key)
        return key.upper()


async def test_concurrent_misses_share_one_read() -> None:
    read = Reader()
    kept: SharedReads[str, str] = SharedReads(read)
    got = await asyncio.gather(*(kept.get("a") for _ in range(50)), kept.get("b"))
    assert got == ["A"] * 50 + ["B"]
    assert sorted(read.reads) == ["a", "b"]
    assert await kept.get("a") == "A" and len(read.reads) == 2  # kept for good


async def test_a_failed_read_fails_its_callers_and_is_read_again() -> None:
    read = Reader()
    kept: SharedReads[str, str] = SharedReads(read)
    read.fail = True
    results = await asyncio.gather(kept.get("a"), kept.get("a"), return_exceptions=True)
    assert [type(r) for r in results] == [LookupError, LookupError] and read.reads == ["a"]
    read.fail = False
    assert await kept.get("a") == "A" and read.reads == ["a", "a"]


async def test_kept_for_the_ttl_then_read_again() -> None:
    now = [0.0]
    read = Reader()
    kept: SharedReads[str, str] = SharedReads(read, ttl=2.0, clock=lambda: now[0])
    await kept.get("a")
    now[0] = 1.9
    await kept.get("a")
    assert read.reads == ["a"]
    now[0] = 2.0
    await kept.get("a")
    assert read.reads == ["a", "a"]


async def test_one_cancelled_caller_does_not_cancel_the_read_others_await() -> None:
    read = Reader()
    kept: SharedReads[str, str] = SharedReads(read)
    first = asyncio.ensure_future(kept.get("a"))
    second = asyncio.ensure_future(kept.get("a"))
    await asyncio.sleep(0)
    first.cancel()
    assert await second == "A"
    with pytest.raises(asyncio.CancelledError):
        await first
