"""What happened to each message, recorded in batches off the SMTP path.

Events are not on the custody path: a store that is down or slow never
delays a reply. They wait in a bounded queue; a writer task flushes them in
batches and retries; when the queue is full the oldest are dropped and
counted, because refusing mail for want of a log line would be worse.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Protocol

log = logging.getLogger("sluice.events")


@dataclass(frozen=True)
class Event:
    # relayed | deferred | rejected | possible_duplicate (the relay);
    # bounced | complained | auto_replied (feedback, matched to the message it answers)
    kind: str
    tenant: str
    client: str
    mail_from: str
    recipients: tuple[str, ...]
    message_id: str = ""
    ip: str = ""
    vmta: str = ""
    job: str = ""
    size: int = 0
    reply: str = ""
    downstream_reply: str = ""
    ms: float = 0.0
    at: float = field(default_factory=time.time)
    provider: str = ""  # the recipient's provider group (google, microsoft, ..., other)
    dry_run: bool = False  # went to the outbox by a dry-run switch, not downstream

    def as_row(self) -> tuple:
        """The values in the order of ``FIELDS``: one plain tuple per event.

        ``dataclasses.asdict`` deep-copies every field and cost a tenth of the
        relay's CPU under load; a store only needs the values.
        """
        return (
            self.kind,
            self.tenant,
            self.client,
            self.mail_from,
            ",".join(self.recipients),
            self.message_id,
            self.ip,
            self.vmta,
            self.job,
            self.size,
            self.reply,
            self.downstream_reply,
            self.ms,
            self.at,
            self.provider,
            self.dry_run,
        )


FIELDS = tuple(f.name for f in fields(Event))


class EventStore(Protocol):
    async def record(self, events: Sequence[Event]) -> None: ...


class Recorder:
    def __init__(self, store: EventStore, *, capacity: int = 100_000, batch: int = 500):
        self.store = store
        self.capacity = capacity
        self.batch = batch
        self.pending: deque[Event] = deque()
        self.dropped = 0
        self._wake = asyncio.Event()

    def add(self, event: Event) -> None:
        if len(self.pending) >= self.capacity:
            self.pending.popleft()
            self.dropped += 1
        self.pending.append(event)
        if len(self.pending) >= self.batch:
            self._wake.set()

    async def flush(self) -> int:
        written = 0
        while self.pending:
            chunk = [self.pending[i] for i in range(min(self.batch, len(self.pending)))]
            await self.store.record(chunk)
            for _ in chunk:
                self.pending.popleft()
            written += len(chunk)
        return written

    async def run(self, interval: float = 1.0) -> None:
        """Flush every ``interval`` seconds or when a batch is full; retry on failure."""
        backoff = interval
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=backoff)
            except TimeoutError:
                pass
            self._wake.clear()
            try:
                await self.flush()
                backoff = interval
            except Exception as exc:  # the store is down: keep the events, try later
                log.warning(
                    "event store unavailable, %d events waiting: %s", len(self.pending), exc
                )
                backoff = min(backoff * 2, 5.0)
