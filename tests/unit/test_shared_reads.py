"""Shared reads: waiting requests share a computation, never one that began before them."""

from __future__ import annotations

import asyncio

import pytest

from admin.shared_reads import SharedReads


async def test_requests_share_only_computations_that_started_after_they_arrived():
    shared: SharedReads[int] = SharedReads()
    state = {"value": 0, "computed": 0}
    gate = asyncio.Event()

    async def compute() -> int:
        state["computed"] += 1
        seen = state["value"]
        await gate.wait()
        return seen

    first = asyncio.create_task(shared.get("k", compute))
    await asyncio.sleep(0)  # the first computation has read value 0 and waits
    state["value"] = 1  # a change made before the next requests ask
    later = [asyncio.create_task(shared.get("k", compute)) for _ in range(10)]
    await asyncio.sleep(0)  # the ten have asked while the first computation still waits
    gate.set()
    answers = await asyncio.wait_for(asyncio.gather(first, *later), 5)
    # The ten asked after the change: none gets the first answer, all share one more.
    assert answers == [0] + [1] * 10
    assert state["computed"] == 2
    other = await asyncio.wait_for(shared.get("other", compute), 5)
    assert (other, state["computed"]) == (1, 3)  # another key computes for itself


async def test_a_failure_is_not_handed_to_the_next_request():
    shared: SharedReads[str] = SharedReads()
    calls = []

    async def compute() -> str:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("store down")
        return "ok"

    with pytest.raises(RuntimeError, match="store down"):
        await shared.get("k", compute)
    assert await asyncio.wait_for(shared.get("k", compute), 5) == "ok"
    assert len(calls) == 2
