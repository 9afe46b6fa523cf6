"""What happened to each message, recorded in batches off the SMTP path.

Events are not on the custody path: a store that is down or slow never
delays a reply. They wait in a bounded queue; a writer task flushes them in
batches and retries; when the queue is full the oldest are dropped and
counted, because refusing mail for want of a log line would be worse.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Protocol

# The writer task (the daemon's ``events``) flushes this often, or as soon as a
# batch is full; a failing store is tried again after a wait that doubles up
# to RETRY_AT_MOST, so a store that is back sees the waiting events within seconds.
FLUSH_EVERY = 1.0
RETRY_AT_MOST = 5.0


@dataclass(frozen=True)
class Event:
    # relayed | deferred | rejected | possible_duplicate | spooled (the relay);
    # refused (a recipient refused before DATA, at ``step``);
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
    # JSON: how a feedback event was read (the bounce rule and its evidence)
    detail: str = ""
    tx: str = ""  # the transaction's id, as its log lines print it (tx=)
    step: str = ""  # the pipeline step that refused it (refused events)

    def as_row(self) -> tuple[Any, ...]:
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
            self.detail,
            self.tx,
            self.step,
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
        # Set when a batch is full: the writer task flushes then, not at its next interval.
        self.full = asyncio.Event()
        self._flushing = asyncio.Lock()
        # A batch whose write outlived a cancelled flush, and the write itself.
        self._in_flight: tuple[asyncio.Future[None], list[Event]] | None = None

    def add(self, event: Event) -> None:
        if len(self.pending) >= self.capacity:
            self.pending.popleft()
            self.dropped += 1
        self.pending.append(event)
        if len(self.pending) >= self.batch:
            self.full.set()

    async def flush(self) -> int:
        """Write every pending event; each batch exactly once, even across a cancellation.

        A write is shielded: cancelling the writer (shutdown) does not cut a
        batch the store may already have committed, and the final flush waits
        for that write instead of sending the batch again.
        """
        async with self._flushing:
            written = await self._settle_in_flight()
            while self.pending:
                chunk = [self.pending.popleft() for _ in range(min(self.batch, len(self.pending)))]
                write = asyncio.ensure_future(self.store.record(chunk))
                self._in_flight = (write, chunk)
                written += await self._settle_in_flight()
            return written

    def unwritten(self) -> list[Event]:
        """Take every event not known to be written: the pending ones and a write still going.

        For a shutdown that cannot wait for the store any longer. A write still
        in flight is abandoned and its batch returned: kept twice beats lost.
        """
        left: list[Event] = []
        if self._in_flight is not None:
            write, chunk = self._in_flight
            if not write.done() or write.cancelled() or write.exception() is not None:
                write.cancel()
                left.extend(chunk)
            self._in_flight = None
        left.extend(self.pending)
        self.pending.clear()
        return left

    async def _settle_in_flight(self) -> int:
        if self._in_flight is None:
            return 0
        write, chunk = self._in_flight
        try:
            await asyncio.shield(write)
        except asyncio.CancelledError:
            if not write.done():
                raise  # we were cancelled; the write goes on and the next flush waits for it
            self._in_flight = None
            self.pending.extendleft(reversed(chunk))
            raise
        except Exception:
            self._in_flight = None
            self.pending.extendleft(reversed(chunk))  # back in front, in order, for a retry
            raise
        self._in_flight = None
        return len(chunk)
