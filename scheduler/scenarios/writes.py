"""Group commit for the ledger: concurrent operations' writes reach the store together.

Each operation still awaits its own write and knows its row is committed
before it goes on: ``sending`` before the pipeline is called, its end before
a gate's lock is let go. What changes is how: the writes that arrive while
one flush is in the store go in the next one, a single statement or
transaction for all of them, so a round of hundreds of operations costs a
few commits instead of two per operation.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from policy.store import Store
from policy.store.scenario_store import Completion, Mark, Release

T = TypeVar("T")
R = TypeVar("R")


@dataclass
class Group(Generic[T, R]):
    """Calls of ``flush`` batched: concurrent callers share one, each gets its own answer."""

    flush: Callable[[list[T]], Awaitable[Sequence[R]]]
    key: Callable[[T], Hashable] | None = None  # items with one key never share a flush
    limit: int = 1000
    _waiting: list[tuple[T, asyncio.Future[R]]] = field(default_factory=list)
    _flusher: asyncio.Task[None] | None = None

    async def __call__(self, item: T) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if self._flusher is None:
            # Started on the next turn of the loop: the callers runnable now join it.
            self._flusher = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            while self._waiting:
                batch = self._take()
                try:
                    answers = await self.flush([item for item, _ in batch])
                except Exception as exc:
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                except BaseException:
                    for _, future in batch:
                        future.cancel()
                    raise
                for (_, future), answer in zip(batch, answers, strict=True):
                    if not future.done():  # a caller cancelled meanwhile: written all the same
                        future.set_result(answer)
        finally:
            self._flusher = None
            for _, future in self._waiting:  # only when the flusher itself was cancelled
                future.cancel()
            self._waiting.clear()

    def _take(self) -> list[tuple[T, asyncio.Future[R]]]:
        if self.key is None:
            batch, self._waiting = self._waiting[: self.limit], self._waiting[self.limit :]
            return batch
        batch, later, seen = [], [], set()
        for entry in self._waiting:
            k = self.key(entry[0])
            if k in seen or len(batch) >= self.limit:
                later.append(entry)
            else:
                seen.add(k)
                batch.append(entry)
        self._waiting = later
        return batch


@dataclass
class Writes:
    """The engine's three ledger writes, each a group commit over the store."""

    store: Store
    claimer: str
    clock: Callable[[], float]
    marks: Group[Mark, bool] = field(init=False)
    releases: Group[Release, bool] = field(init=False)
    completions: Group[Completion, bool] = field(init=False)

    def __post_init__(self) -> None:
        self.marks = Group(self._mark)
        self.releases = Group(self._release)
        # One enrollment's two ends never share a flush: each ends what the other planned.
        self.completions = Group(self._complete, key=lambda c: c.op.enrollment)

    async def _mark(self, marks: list[Mark]) -> list[bool]:
        return await self.store.mark_sending(self.claimer, marks, self.clock())

    async def _release(self, releases: list[Release]) -> list[bool]:
        return await self.store.set_ops(self.claimer, releases, self.clock())

    async def _complete(self, completions: list[Completion]) -> list[bool]:
        return await self.store.complete_ops(completions, self.clock())
