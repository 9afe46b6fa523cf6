"""The sibling tasks' supervisor, on real asyncio with short intervals and polls."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable

import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import REGISTRY

from admin.app import make_app
from scheduler import metrics
from scheduler.supervisor import STEADY, Backoff, Stage, Supervisor


def failures(task: str) -> float:
    return REGISTRY.get_sample_value("sluice_task_failures_total", {"task": task}) or 0.0


async def until(done: Callable[[], bool], within: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not done():
        assert asyncio.get_running_loop().time() < deadline, "not reached in time"
        await asyncio.sleep(0.005)


def test_backoff_doubles_from_the_interval_up_to_the_cap_less_some_jitter():
    b = Backoff(cap=1.0, jitter=0.2)
    assert [b.delay(0.1, n, lambda: 0.0) for n in (1, 2, 3, 4, 5)] == [0.2, 0.4, 0.8, 1.0, 1.0]
    assert b.delay(0.1, 3, lambda: 1.0) == pytest.approx(0.64)  # jitter only ever shortens
    assert b.delay(5.0, 9, lambda: 1.0) == 5.0  # never below the interval, even with jitter
    assert Backoff().delay(0.0, 1, lambda: 0.0) == 2.0  # a long-running task doubles ``first``
    assert STEADY.delay(0.5, 40) == 0.5


async def test_a_failing_round_is_retried_with_a_growing_backoff_then_recovers():
    attempts: list[float] = []
    loop = asyncio.get_running_loop()

    async def flaky() -> None:
        attempts.append(loop.time())
        if len(attempts) <= 3:
            raise ConnectionError("store down")

    before = failures("flaky")
    async with Supervisor() as tasks:
        task = tasks.every("flaky", 0.01, flaky, backoff=Backoff(cap=1.0, jitter=0.0))
        await until(lambda: task.last_success is not None)
        assert (task.failures, task.error) == (0, "")
    assert failures("flaky") - before == 3
    gaps = [b - a for a, b in itertools.pairwise(attempts)][:3]
    # 0.02, 0.04, 0.08 after the first, second and third failure in a row.
    assert all(g >= w - 0.001 for g, w in zip(gaps, (0.02, 0.04, 0.08), strict=True)), gaps


async def test_the_interval_is_read_before_each_wait():
    interval = {"s": 0.01}
    rounds = []
    async with Supervisor() as tasks:
        tasks.every("reloadable", lambda: interval["s"], lambda: rounds.append(1))
        await until(lambda: len(rounds) >= 3)
        interval["s"] = 0.03  # a reload changed it
        seen = len(rounds)
        await until(lambda: len(rounds) >= seen + 2)
    sample = REGISTRY.get_sample_value("sluice_task_interval_seconds", {"task": "reloadable"})
    assert sample == 0.03


async def test_lag_grows_past_the_interval_and_readiness_names_the_late_task():
    now = {"t": 1000.0}
    tasks = Supervisor(clock=lambda: now["t"], stall_after=0.0)
    async with tasks:
        task = tasks.every("clock", 10.0, lambda: None)  # one round at once, then a long wait
        await until(lambda: task.last_success is not None)
        now["t"] = 1005.0
        assert tasks.lag("clock") == 0.0 and tasks.late() == []
        now["t"] = 1060.0
        assert tasks.lag("clock") == 50.0
        assert metrics.lag("clock", now=1060.0) == 50.0  # what /metrics shows
        assert tasks.late() == ["clock is 50s late"]
        with pytest.raises(RuntimeError, match="clock is 50s late"):
            await tasks.check()


async def test_a_late_task_makes_readyz_degraded_not_failing():
    async def broken() -> None:
        raise OSError("inbox folder gone")

    tasks = Supervisor(stall_after=0.0)
    async with tasks:
        task = tasks.every("inbox", 0.01, broken, backoff=STEADY)
        await until(lambda: (tasks.lag("inbox") or 0) > 0.05 and task.failures > 0)
        app = make_app({"tasks": tasks.check}, degradable=frozenset({"tasks"}))
        async with TestClient(TestServer(app)) as client:
            r = await client.get("/readyz")
            body = await r.json()
    assert (r.status, body["status"]) == (200, "degraded")
    assert "inbox is" in body["checks"]["tasks"] and "inbox folder gone" in body["checks"]["tasks"]


async def test_stop_goes_stage_by_stage_each_followed_by_its_final_round():
    order: list[str] = []
    running: set[str] = set()

    def blocking(name: str):
        async def run() -> None:
            running.add(name)
            try:
                await asyncio.Event().wait()
            finally:
                order.append(f"{name} cancelled")

        return run

    def hook(name: str):
        async def final() -> None:
            order.append(f"{name} flushed")

        return final

    tasks = Supervisor()
    async with tasks:
        # Started in the reverse of their stop order: the order is the stage's, not the start's.
        tasks.every("watchdog", 0.01, blocking("watchdog"), stage=Stage.WATCHDOG)
        tasks.every("events", 0.01, blocking("events"), stage=Stage.FLUSH, on_stop=hook("events"))
        tasks.every("policy", 0.01, blocking("policy"), stage=Stage.MIRROR)
        tasks.forever("inbox", blocking("inbox"), on_stop=hook("inbox"))
        await until(lambda: len(running) == 4)
    assert order == [
        "inbox cancelled",
        "inbox flushed",
        "policy cancelled",
        "events cancelled",
        "events flushed",
        "watchdog cancelled",
    ]
    with pytest.raises(RuntimeError, match="stopping"):
        tasks.every("late", 1.0, lambda: None)


async def test_cancellation_is_not_a_failure_but_a_stray_cancelled_error_is():
    started = asyncio.Event()

    async def long_round() -> None:
        started.set()
        await asyncio.Event().wait()

    stray = 0

    async def odd() -> None:
        nonlocal stray
        stray += 1
        raise asyncio.CancelledError  # from inside the round, nobody cancelled the task

    before = failures("long"), failures("odd")
    async with Supervisor() as tasks:
        long = tasks.every("long", 0.01, long_round)
        tasks.every("odd", 0.01, odd, backoff=STEADY)
        await started.wait()
        await until(lambda: stray >= 2)
    assert long.failures == 0 and failures("long") == before[0]
    assert failures("odd") - before[1] >= 2


async def test_a_flusher_wakes_on_a_full_batch_and_flushes_once_more_at_stop():
    full = asyncio.Event()
    flushed: list[str] = []
    async with Supervisor() as tasks:
        tasks.flusher(
            "events",
            3600.0,
            lambda: flushed.append("round"),
            retry_at_most=5.0,
            final=lambda: asyncio.sleep(0, flushed.append("final")),
            wake=full,
        )
        await asyncio.sleep(0)
        assert flushed == []  # its first round waits an interval, or a wake-up
        full.set()  # a full batch
        await until(lambda: flushed == ["round"])
    assert flushed == ["round", "final"]


async def test_a_long_running_task_is_restarted_when_it_raises_and_ends_when_it_returns():
    runs = []

    async def subscriber() -> None:
        runs.append(1)
        if len(runs) < 3:
            raise ValueError("lost the feed")

    async def broken() -> None:
        raise ValueError("no such queue")

    before = failures("subscriber")
    quick = Backoff(first=0.005, jitter=0.0)
    tasks = Supervisor(stall_failures=2)
    async with tasks:
        task = tasks.forever("subscriber", subscriber, backoff=quick)
        feed = tasks.forever("feed", broken, backoff=quick)
        await until(lambda: task.handle is not None and task.handle.done())
        assert len(runs) == 3 and failures("subscriber") - before == 2
        assert tasks.lag("subscriber") is None and task.failures == 0
        await until(lambda: feed.failures >= 2)
        [late] = tasks.late()
        assert late.startswith("feed failed") and late.endswith("ValueError: no such queue")


async def test_names_are_unique():
    async with Supervisor() as tasks:
        tasks.every("one", 1.0, lambda: None)
        with pytest.raises(ValueError, match="already"):
            tasks.every("one", 1.0, lambda: None)


async def test_a_task_that_ignores_its_cancellation_does_not_hold_the_stop(monkeypatch, caplog):
    from scheduler import supervisor as supervisor_mod

    monkeypatch.setattr(supervisor_mod, "STOP_WAIT", 0.2)
    stuck = asyncio.Event()
    release = asyncio.Event()

    async def deaf() -> None:
        stuck.set()
        while not release.is_set():  # a driver call that swallows cancellation
            try:
                await release.wait()
            except asyncio.CancelledError:
                continue

    tasks = Supervisor()
    tasks.forever("deaf", deaf)
    flushed = []
    tasks.flusher("writer", 60, lambda: asyncio.sleep(0), retry_at_most=1,
                  final=lambda: asyncio.sleep(0, flushed.append(True)))  # fmt: skip
    await stuck.wait()
    await asyncio.wait_for(tasks.stop(), 2)  # would wait forever for "deaf"
    assert "task deaf did not stop within 0s" in caplog.text
    assert flushed == [True]  # the later stages still ran, final flush included
    release.set()
