"""One supervisor for the sibling tasks: rounds on an interval, restarts, lag, stop order.

Every periodic task of the daemon is a one-round function handed to
``Supervisor.every``; a task that runs until cancelled (a bus subscriber)
goes to ``Supervisor.forever``. The supervisor owns the loop around them:

- A round that raises is logged with the task's name, counted
  (``sluice_task_failures_total``) and tried again after an exponential
  backoff with jitter, bounded by ``Backoff.cap`` and never shorter than the
  task's interval. Cancellation is how tasks stop, never a failure.
- Each success is recorded (``sluice_task_last_success_timestamp_seconds``);
  the lag (``sluice_task_lag_seconds``) is how late the next success is.
  ``check`` is a readiness check that names the tasks past their bound.
- ``stop`` cancels the tasks stage by stage (``Stage``): the work that
  produces first, the writers of what it produced after it, each followed
  by its ``on_stop`` (a final flush), and systemd's watchdog last.

An interval may be a callable, read before each wait, so a reload that
changes it takes effect at the next round.

The tasks are plain ``asyncio`` tasks rather than an ``asyncio.TaskGroup``:
a group cancels whoever entered it when a child fails and must be left by
the task that entered it, while here no child ever fails (it is restarted)
and the test harness starts a gateway in one task and closes it in another.
"""

from __future__ import annotations

import asyncio
import enum
import inspect
import logging
import random
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from scheduler import metrics

log = logging.getLogger("sluice.tasks")
# Seconds a stage waits for its cancelled tasks to end before shutdown goes on.
STOP_WAIT = 5.0

Interval = float | Callable[[], float]
Round = Callable[[], Any]  # a coroutine function, or a plain one for a round that never waits
Hook = Callable[[], Awaitable[Any]]


class Stage(enum.IntEnum):
    """The order tasks stop in: lowest first."""

    WORK = 1  # read feedback, judge IPs, send notifications, watch the workers
    MIRROR = 2  # the policy mirror: kept fresh while the work winds down
    FLUSH = 3  # the writers of what the others produced, then their final flush
    WATCHDOG = 4  # systemd's watchdog, fed to the very end


@dataclass(frozen=True)
class Backoff:
    """How long a failing task waits before its next attempt."""

    cap: float = 60.0  # the longest wait; a task whose interval is longer waits its interval
    # Each wait is cut by up to this share: tasks hit by one outage drift apart.
    jitter: float = 0.2
    first: float = 1.0  # the first wait of a task without an interval (``forever``)

    def delay(self, base: float, failures: int, draw: Callable[[], float] = random.random) -> float:
        """The wait after ``failures`` failures in a row of a task that waits ``base`` when well."""
        step = base if base > 0 else self.first
        ceiling = max(base, self.cap)
        wait = min(ceiling, step * 2.0 ** min(failures, 32))
        return max(base, wait * (1.0 - self.jitter * draw()))


DOUBLING = Backoff()
STEADY = Backoff(cap=0.0, jitter=0.0)  # a failing task tries again at its own interval


@dataclass
class Task:
    name: str
    stage: Stage
    round: Round
    interval: Callable[[], float] | None  # None: a task that runs until cancelled
    backoff: Backoff
    wake: asyncio.Event | None = None  # set: run the next round now
    on_stop: Hook | None = None
    started: float = 0.0
    last_success: float | None = None
    failures: int = 0  # in a row
    error: str = ""  # the last failure's, "" after a success
    logged: float = float("-inf")  # when a repeated failure was last logged
    handle: asyncio.Task | None = field(default=None, repr=False)


@dataclass
class Supervisor:
    """Named sibling tasks; an async context manager whose exit is ``stop``."""

    clock: Callable[[], float] = time.time
    # ``check`` names a task late by more than this many intervals and ``stall_after``
    # seconds (the SluiceTaskStalled alert's four intervals, sooner than its 5 min),
    # or a long-running one that failed ``stall_failures`` times in a row.
    stall_intervals: float = 4.0
    stall_after: float = 60.0
    stall_failures: int = 3
    quiet: float = 60.0  # a failure repeated in a row is logged at most this often
    draw: Callable[[], float] = random.random
    tasks: dict[str, Task] = field(default_factory=dict)
    stopping: bool = False

    async def __aenter__(self) -> Supervisor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def every(
        self,
        name: str,
        interval: Interval,
        fn: Round,
        *,
        stage: Stage = Stage.WORK,
        backoff: Backoff = DOUBLING,
        wake: asyncio.Event | None = None,
        immediately: bool = True,
        on_stop: Hook | None = None,
    ) -> Task:
        """Run ``fn`` every ``interval`` seconds (or as soon as ``wake`` is set).

        The first round runs at once, or after one interval when not
        ``immediately``; ``on_stop`` runs once the task is cancelled.
        """
        every = interval if callable(interval) else (lambda: interval)
        task = Task(name, stage, fn, every, backoff, wake, on_stop)
        return self._start(task, lambda: self._rounds(task, immediately))

    def flusher(
        self,
        name: str,
        interval: Interval,
        flush: Round,
        *,
        retry_at_most: float,
        final: Hook,
        wake: asyncio.Event | None = None,
    ) -> Task:
        """A writer of what the listeners and the other tasks produce.

        It stops after them (``Stage.FLUSH``), then ``final`` writes what still waits.
        """
        return self.every(
            name,
            interval,
            flush,
            stage=Stage.FLUSH,
            backoff=Backoff(cap=retry_at_most),
            wake=wake,
            immediately=False,
            on_stop=final,
        )

    def forever(
        self,
        name: str,
        fn: Callable[[], Awaitable[Any]],
        *,
        stage: Stage = Stage.WORK,
        backoff: Backoff = DOUBLING,
        on_stop: Hook | None = None,
    ) -> Task:
        """Run ``fn`` until the supervisor stops; restart it with backoff when it raises."""
        task = Task(name, stage, fn, None, backoff, None, on_stop)
        return self._start(task, lambda: self._run_forever(task))

    def _start(self, task: Task, body: Callable[[], Coroutine[Any, Any, None]]) -> Task:
        if self.stopping:
            raise RuntimeError(f"task {task.name}: the supervisor is stopping")
        if task.name in self.tasks:
            raise ValueError(f"task {task.name} is already running")
        task.started = self.clock()
        if task.interval is not None:
            metrics.task_started(task.name, task.interval(), now=task.started)
        self.tasks[task.name] = task
        task.handle = asyncio.get_running_loop().create_task(body(), name=task.name)
        return task

    async def _rounds(self, task: Task, immediately: bool) -> None:
        assert task.interval is not None
        wait = 0.0 if immediately else task.interval()
        while True:
            # After a failure the backoff holds even when a wake-up comes.
            await _pause(wait, task.wake if task.failures == 0 else None)
            try:
                result = task.round()
                if inspect.isawaitable(result):
                    await result
            except Exception as exc:
                wait = self._failed(task, exc, task.interval())
                continue
            except asyncio.CancelledError as exc:
                if _cancelled():
                    raise
                wait = self._failed(task, exc, task.interval())  # a stray one from inside
                continue
            self._succeeded(task)
            wait = task.interval()

    async def _run_forever(self, task: Task) -> None:
        while True:
            began = self.clock()
            try:
                await task.round()
            except Exception as exc:
                if self.clock() - began > task.backoff.cap:
                    task.failures = 0  # it ran a good while: this is a new failure, not a streak
                await asyncio.sleep(self._failed(task, exc, 0.0))
                continue
            log.info("task %s ended", task.name)
            task.failures, task.error = 0, ""
            return

    def _succeeded(self, task: Task) -> None:
        assert task.interval is not None
        now = self.clock()
        if task.failures:
            log.info("task %s works again after %d failed round(s)", task.name, task.failures)
        task.failures, task.error, task.last_success = 0, "", now
        metrics.task_succeeded(task.name, task.interval(), now=now)

    def _failed(self, task: Task, exc: BaseException, base: float) -> float:
        task.failures += 1
        task.error = f"{exc.__class__.__name__}: {exc}"[:200]
        metrics.TASK_FAILURES.labels(task.name).inc()
        wait = task.backoff.delay(base, task.failures, self.draw)
        now = self.clock()
        if task.failures == 1:
            task.logged = now
            log.error("task %s: round failed; next attempt in %.1fs", task.name, wait, exc_info=exc)
        elif now - task.logged >= self.quiet:
            task.logged = now
            log.warning(
                "task %s: round failed again (%d in a row): %s; next attempt in %.1fs",
                task.name,
                task.failures,
                task.error,
                wait,
            )
        return wait

    def lag(self, name: str, now: float | None = None) -> float | None:
        """Seconds past the moment the task's next success was due; None without an interval."""
        task = self.tasks[name]
        if task.interval is None:
            return None
        now = self.clock() if now is None else now
        since = task.started if task.last_success is None else task.last_success
        return metrics.lateness(since, task.interval(), now)

    def late(self, now: float | None = None) -> list[str]:
        """What is wrong with each task past its bound, one line each."""
        out = []
        for task in self.tasks.values():
            if task.interval is None:
                if task.failures >= self.stall_failures:
                    out.append(f"{task.name} failed {task.failures} times in a row: {task.error}")
                continue
            lag = self.lag(task.name, now) or 0.0
            if lag > max(self.stall_intervals * task.interval(), self.stall_after):
                why = f" ({task.failures} failed rounds: {task.error})" if task.failures else ""
                out.append(f"{task.name} is {lag:.0f}s late{why}")
        return out

    async def check(self) -> None:
        """A readiness check: raises naming every task past its bound."""
        if late := self.late():
            raise RuntimeError("; ".join(late))

    async def stop(self) -> None:
        """Cancel the tasks stage by stage; after each stage, its ``on_stop`` hooks in turn."""
        self.stopping = True
        for stage in sorted({t.stage for t in self.tasks.values()}):
            batch = [(t, t.handle) for t in self.tasks.values() if t.stage == stage and t.handle]
            for _, handle in batch:
                handle.cancel()
            await _stopped(batch)
            for task, _ in batch:
                task.handle = None
                if task.on_stop is not None:
                    try:
                        await task.on_stop()
                    except Exception:
                        log.exception("task %s: its last round at stop failed", task.name)


async def _stopped(batch: list[tuple[Task, asyncio.Task[Any]]]) -> None:
    """Wait for cancelled tasks, at most STOP_WAIT: one stuck in a call that ignores its
    cancellation (a driver waiting on a database that does not answer) must not hold the
    daemon's shutdown; it is named and left behind."""
    if not batch:
        return
    _, pending = await asyncio.wait([handle for _, handle in batch], timeout=STOP_WAIT)
    for task, handle in batch:
        if handle in pending:
            log.error("task %s did not stop within %.0fs: left behind", task.name, STOP_WAIT)


async def _pause(seconds: float, wake: asyncio.Event | None) -> None:
    if wake is None:
        await asyncio.sleep(seconds)
        return
    try:
        await asyncio.wait_for(wake.wait(), timeout=seconds)
    except TimeoutError:
        pass
    wake.clear()


def _cancelled() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
