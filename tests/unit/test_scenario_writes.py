"""The ledger's group commit: concurrent writes share a flush, each caller gets its answer."""

from __future__ import annotations

import asyncio

import pytest

from scheduler.scenarios.writes import Group


class Recorder:
    def __init__(self, fail_on: int | None = None) -> None:
        self.flushes: list[list[int]] = []
        self.fail_on = fail_on

    async def __call__(self, items: list[int]) -> list[int]:
        self.flushes.append(items)
        await asyncio.sleep(0.01)  # the store's round trip: others arrive meanwhile
        if self.fail_on in items:
            raise RuntimeError("connection lost")
        return [i * 10 for i in items]


async def test_concurrent_writes_share_flushes_and_each_gets_its_own_answer() -> None:
    flush = Recorder()
    group: Group[int, int] = Group(flush)
    answers = await asyncio.gather(*(group(i) for i in range(100)))
    assert answers == [i * 10 for i in range(100)]
    assert sorted(i for f in flush.flushes for i in f) == list(range(100))  # each once
    assert len(flush.flushes) <= 2  # not one per write


async def test_a_write_arriving_during_a_flush_goes_in_the_next() -> None:
    flush = Recorder()
    group: Group[int, int] = Group(flush)
    first = asyncio.ensure_future(group(1))
    await asyncio.sleep(0.005)  # the first flush is in the store
    assert await asyncio.gather(group(2), group(3), first) == [20, 30, 10]
    assert flush.flushes == [[1], [2, 3]]


async def test_one_key_never_shares_a_flush() -> None:
    flush = Recorder()
    group: Group[int, int] = Group(flush, key=lambda i: i % 2)
    await asyncio.gather(*(group(i) for i in range(5)))
    assert all(len({i % 2 for i in f}) == len(f) for f in flush.flushes), flush.flushes
    assert sorted(i for f in flush.flushes for i in f) == list(range(5))


async def test_a_failed_flush_fails_its_callers_only_and_the_next_flush_runs() -> None:
    flush = Recorder(fail_on=1)
    group: Group[int, int] = Group(flush)
    first = asyncio.ensure_future(group(1))
    await asyncio.sleep(0.005)
    later = asyncio.ensure_future(group(2))
    with pytest.raises(RuntimeError, match="connection lost"):
        await first
    assert await later == 20


async def test_a_cancelled_caller_is_written_all_the_same() -> None:
    flush = Recorder()
    group: Group[int, int] = Group(flush)
    gone = asyncio.ensure_future(group(7))
    stays = asyncio.ensure_future(group(8))
    await asyncio.sleep(0)
    gone.cancel()
    assert await stays == 80
    assert flush.flushes == [[7, 8]]
