"""Opens, clicks and unsubscribes: recorded in batches, classified, then published.

The public endpoints call ``EngagementRecorder.add`` and answer at once; the
writer task (``flush`` every ``FLUSH_EVERY`` seconds) does the rest off the
request path. An event waits at least ``hold`` seconds before it is
classified, so that every click of a burst (``policy.bots``) has arrived
when the first one is judged; then the batch is written, the store says
which opens are the first of their message for that recipient (per
classification, so the first human open is known even after an Apple
prefetch), and each event goes on the bus with that answer. Like the
relay's events, a store that is down never slows a request: events wait in
a bounded queue and the oldest are dropped, counted.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any, Protocol

from policy import metrics
from policy.bots import BURST_WINDOW, HUMAN, classify
from policy.bus import Bus

KINDS = ("open", "click", "unsubscribe")
# The writer task (the daemon's ``engagement``) flushes this often; a failing
# store is tried again after a wait that doubles up to RETRY_AT_MOST.
FLUSH_EVERY = 0.5
RETRY_AT_MOST = 30.0


@dataclass(frozen=True, slots=True)
class Engagement:
    kind: str  # open | click | unsubscribe
    tenant: str
    job: str
    message_id: str
    recipient: str
    link_index: int = 0
    url: str = ""  # clicks: where the link led
    ip: str = ""
    user_agent: str = ""
    at: float = field(default_factory=time.time)
    sent_at: float = 0.0  # when Sluice relayed the message (the token's issued_at)
    classification: str = ""  # human | machine, set by the recorder
    reason: str = ""  # the rule that made it machine (policy.bots), or how one unsubscribed
    first_open: bool = False  # the first open of its message by its recipient, per classification

    def as_row(self) -> tuple[Any, ...]:
        """The values in the order of ``COLUMNS``."""
        return (
            self.kind,
            self.tenant,
            self.job,
            self.message_id,
            self.recipient,
            self.link_index,
            self.url,
            self.ip,
            self.user_agent[:500],
            self.at,
            self.sent_at,
            self.classification,
            self.reason,
            self.first_open,
        )


COLUMNS = tuple(f.name for f in fields(Engagement))


class EngagementStore(Protocol):
    async def record_engagement(self, events: Sequence[Engagement]) -> list[bool]: ...


def _key(e: Engagement) -> tuple[str, str, str]:
    return (e.tenant, e.message_id, e.recipient)


class EngagementRecorder:
    def __init__(
        self,
        store: EngagementStore,
        bus: Bus | None = None,
        *,
        hold: float = BURST_WINDOW,
        capacity: int = 100_000,
        batch: int = 1000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.bus = bus
        self.hold = hold
        self.capacity = capacity
        self.batch = batch
        self.clock = clock
        self.pending: deque[Engagement] = deque()
        self.dropped = 0
        # Clicks already written, kept one window longer: a later click's burst includes them.
        self._recent: deque[Engagement] = deque()
        self._flushing = asyncio.Lock()

    def add(self, event: Engagement) -> None:
        """Queue an event; never waits."""
        if len(self.pending) >= self.capacity:
            self.pending.popleft()
            self.dropped += 1
        self.pending.append(event)

    async def flush(self, *, everything: bool = False) -> int:
        """Classify, write and publish the events old enough (all of them with ``everything``).

        Shielded and serialised: the daemon cancels the writer task and then
        flushes the rest, and a batch the store may already have committed
        must neither be written twice nor be lost in between.
        """
        return await asyncio.shield(self._flush(everything))

    async def _flush(self, everything: bool) -> int:
        written = 0
        async with self._flushing:
            while self.pending:
                cutoff = float("inf") if everything else self.clock() - self.hold
                ready: list[Engagement] = []
                for event in self.pending:
                    if event.at > cutoff or len(ready) >= self.batch:
                        break
                    ready.append(event)
                if not ready:
                    break
                judged = self._classify(ready)
                # Taken off the queue first: add() may drop the oldest while the store works.
                for _ in ready:
                    self.pending.popleft()
                try:
                    firsts = await self.store.record_engagement(judged)
                except BaseException:
                    self._put_back(ready)
                    raise
                metrics.count_engagement(judged)
                for event, first in zip(judged, firsts, strict=True):
                    if first:
                        event = replace(event, first_open=True)
                    if self.bus is not None:
                        self.bus.publish(event)
                self._remember(judged)
                written += len(judged)
        return written

    def _put_back(self, events: list[Engagement]) -> None:
        self.pending.extendleft(reversed(events))
        while len(self.pending) > self.capacity:
            self.pending.popleft()
            self.dropped += 1

    def _classify(self, ready: list[Engagement]) -> list[Engagement]:
        clicks: dict[tuple[str, str, str], list[Engagement]] = defaultdict(list)
        for event in (*self._recent, *self.pending):
            if event.kind == "click":
                clicks[_key(event)].append(event)
        out = []
        for event in ready:
            if event.kind == "unsubscribe":
                # A person's (or their mailbox provider's) decision: never discounted.
                out.append(replace(event, classification=HUMAN))
                continue
            label, reason = classify(event, clicks.get(_key(event), ()))
            out.append(replace(event, classification=label, reason=reason))
        return out

    def _remember(self, written: list[Engagement]) -> None:
        self._recent.extend(e for e in written if e.kind == "click")
        horizon = self.clock() - self.hold - 2 * BURST_WINDOW
        while self._recent and self._recent[0].at < horizon:
            self._recent.popleft()
        while len(self._recent) > self.capacity:
            self._recent.popleft()
