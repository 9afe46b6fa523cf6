"""Deliver the fallback spool to PowerMTA once it is back; report what can never go.

A round (``SpoolDelivery.round``, a supervised task of every SMTP process)
adopts the spools of dead processes, then walks its own oldest first, one
lane per sending IP (order kept per IP, IPs in parallel), through the same
pool and breaker as the SMTP path (``deliver``, handed over by the daemon:
the scheduler never imports the gateway). The chosen VMTA rides in the
stored message's ``X-Virtual-MTA`` header.

- PowerMTA's 250: the entry is removed (only then) and a ``relayed`` event
  recorded; an entry that was being sent when a process died is sent again
  and recorded as ``possible_duplicate``.
- A 5xx: a bounce, fed to the feedback path as a PowerMTA ``b`` record
  (``report``: events, suppression, MailWizz's ``/dswh/pmta`` with the
  classifier's ``bounceCat``, the tenant's webhooks), then removed.
- Older than ``spool.max_age``: the same, as ``message-expired`` (a
  ``bounceCat`` MailWizz records as internal: no action on the subscriber).
- PowerMTA still away (the breaker, no connection, a timeout, 4xx replies
  in a row): the round stops, the entries wait, and the next round comes
  after a doubling backoff. A lone 4xx skips that entry to the next round.
- An unknown outcome after the final dot: the entry stays marked as being
  sent and goes again later (a duplicate is preferred to a loss).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from prometheus_client import Counter

from conf.schema.spool import SpoolSettings
from policy.events import Event

log = logging.getLogger("sluice.spool")
TASK = "spool"  # its sluice_task_* label
BATCH = 500  # entries read and claimed at once
MAX_BACKOFF = 60.0

DONE = Counter(
    "sluice_spool_done_total",
    "Spooled messages that left the spool (delivered, bounced, expired)",
    ["result"],
)


class Outcome(Protocol):
    @property
    def outcome(self) -> str: ...  # relayed | deferred | rejected | possible_duplicate
    @property
    def reply(self) -> str: ...  # the next hop's reply, "<code> <text>", or why there was none


class Store(Protocol):
    """The spool's storage (``gateway.spool.Spool``); every method blocks (run in a thread)."""

    def adopt(self) -> int: ...
    def rescan(self) -> list[Path]: ...
    def claim(self, paths: Sequence[Path]) -> list[Path]: ...
    def unclaim(self, paths: Sequence[Path]) -> None: ...
    def remove(self, paths: Sequence[Path]) -> None: ...


Read = Callable[[Path], tuple[Any, bytes]]  # (entry, message): gateway.spool.read_entry
Deliver = Callable[[Any, bytes], Awaitable[Outcome]]
Report = Callable[[Sequence[dict[str, str]]], Awaitable[int]]  # PowerMTA records -> feedback
Record = Callable[[Event], None]


@dataclass
class SpoolDelivery:
    store: Store
    read: Read
    deliver: Deliver
    report: Report
    record: Record | None
    settings: Callable[[], SpoolSettings]
    clock: Callable[[], float] = time.time
    failures: int = 0  # rounds in a row that PowerMTA deferred
    next_try: float = 0.0
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    unreadable: set[str] = field(default_factory=set)  # logged once, left to an operator

    def flush(self) -> None:
        """Try now, whatever the backoff (``POST /api/spool/flush``)."""
        self.next_try = 0.0
        self.wake.set()

    async def round(self) -> None:
        """Deliver batch after batch until the spool is empty or PowerMTA defers."""
        await asyncio.to_thread(self.store.adopt)
        if self.clock() < self.next_try:
            return
        waiting: set[str] = set()  # entries PowerMTA deferred in this round
        while True:
            paths = await asyncio.to_thread(self.store.rescan)
            paths = [p for p in paths if p.stem not in waiting | self.unreadable][:BATCH]
            if not paths or not await self._batch(paths, waiting):
                break
        if paths or waiting:
            self.failures += 1
            wait = self.settings().retry_interval * 2 ** min(self.failures - 1, 10)
            self.next_try = self.clock() + min(MAX_BACKOFF, wait)
        else:
            self.failures = 0

    async def _batch(self, paths: list[Path], waiting: set[str]) -> bool:
        """One batch; False when PowerMTA is away (the rest waits for the next round)."""
        read = await asyncio.to_thread(self._read_all, paths)
        now, max_age = self.clock(), self.settings().max_age
        expired = [(p, e) for p, e, _ in read if now - e.at > max_age]
        if expired:
            await self.report([r for _, e in expired for r in expiry_records(e, max_age)])
            await asyncio.to_thread(self.store.remove, [p for p, _ in expired])
            DONE.labels("expired").inc(len(expired))
            log.warning("spool: %d message(s) expired after %.0fs", len(expired), max_age)
        live = [(p, e, d) for p, e, d in read if now - e.at <= max_age]
        claimed = set(await asyncio.to_thread(self.store.claim, [p for p, _, _ in live]))
        lanes: dict[str, list[tuple[Path, Any, bytes]]] = {}
        for p, e, d in live:
            path = p.with_suffix(".sending")
            if path in claimed:
                lanes.setdefault(e.ip, []).append((path, e, d))
        # A group: a lane that fails stops the others, so no send outlives its round
        # (one still running could meet the next round's claim of the same entry).
        async with asyncio.TaskGroup() as group:
            running = [group.create_task(self._lane(lane, waiting)) for lane in lanes.values()]
        return all(task.result() for task in running)

    def _read_all(self, paths: list[Path]) -> list[tuple[Path, Any, bytes]]:
        out = []
        for p in paths:
            try:
                out.append((p, *self.read(p)))
            except FileNotFoundError:
                continue  # deleted by an operator meanwhile
            except (OSError, ValueError, KeyError, TypeError) as exc:
                # Left for an operator (sluice spool delete), never in the way of the rest.
                if p.stem not in self.unreadable:
                    log.error("spool: entry %s is unreadable, skipped: %s", p, exc)
                self.unreadable.add(p.stem)
        return out

    async def _lane(self, lane: list[tuple[Path, Any, bytes]], waiting: set[str]) -> bool:
        """One IP's entries in order; False when PowerMTA deferred (the rest waits, in order).

        An entry PowerMTA itself refuses with a 4xx waits for the next round
        while the ones behind it go on, unless the refusals come in a row
        (PowerMTA defers everything): one message must not hold an IP's
        spool back until it expires.
        """
        refused = 0
        for i, (path, entry, data) in enumerate(lane):
            result = await self.deliver(entry, data)
            if result.outcome == "relayed":
                await asyncio.to_thread(self.store.remove, [path])
                self._relayed(entry, result.reply)
                refused = 0
            elif result.outcome == "rejected":
                await self.report(bounce_records(entry, result.reply, self.clock()))
                await asyncio.to_thread(self.store.remove, [path])
                DONE.labels("bounced").inc()
                log.warning("spool: id=%s refused by PowerMTA: %s", entry.id, result.reply)
            elif result.outcome == "deferred" and _answered(result.reply) and refused < 2:
                refused += 1
                waiting.add(path.stem)
                await asyncio.to_thread(self.store.unclaim, [path])
                log.info("spool: PowerMTA deferred id=%s: %s", entry.id, result.reply)
            else:
                # Away, or deferring everything: not sent, ready again. Possible duplicate:
                # PowerMTA may have it, so it stays marked as being sent, logged when resent.
                rest = [p for p, _, _ in lane[i + (result.outcome != "deferred") :]]
                await asyncio.to_thread(self.store.unclaim, rest)
                log.info("spool: delivery paused at id=%s: %s", entry.id, result.reply)
                return False
        return True

    def _relayed(self, entry: Any, reply: str) -> None:
        kind = "possible_duplicate" if entry.claimed else "relayed"
        if entry.claimed:
            log.warning("possible_duplicate: spool id=%s was being sent before a restart", entry.id)
        DONE.labels("delivered").inc()
        if self.record is not None:
            self.record(
                Event(
                    kind=kind,
                    tenant=entry.tenant,
                    client="spool",
                    mail_from=entry.mail_from,
                    recipients=tuple(entry.recipients),
                    message_id=entry.message_id,
                    ip=entry.ip,
                    vmta=entry.vmta,
                    job=entry.job,
                    size=entry.size,
                    reply=f"250 2.0.0 from the spool, id {entry.id}",
                    downstream_reply=reply,
                )
            )


def _answered(reply: str) -> bool:
    """PowerMTA answered with a code (rather than a lost connection, a timeout, the breaker)."""
    return reply[:3].isdigit()


def _logged(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%S%z")


def bounce_records(entry: Any, reply: str, at: float, category: str = "") -> list[dict[str, str]]:
    """PowerMTA ``b`` accounting records, one per recipient, for the feedback path."""
    code, _, rest = reply.partition(" ")
    status = rest.split(" ", 1)[0] if rest[:1].isdigit() else ""
    return [
        {
            "type": "b",
            "timeLogged": _logged(at),
            "orig": entry.mail_from,
            "rcpt": rcpt,
            "dlvSourceIp": entry.ip,
            "vmta": entry.vmta,
            "jobId": entry.job,
            "header_Message-Id": entry.message_id,
            "dsnAction": "failed",
            "dsnStatus": status or ("5.0.0" if code.startswith("5") else "4.0.0"),
            "dsnDiag": f"smtp;{reply}",
            "bounceCat": category,
        }
        for rcpt in entry.recipients
    ]


def expiry_records(entry: Any, max_age: float) -> list[dict[str, str]]:
    """The records of a message that waited past ``max_age``: internal for MailWizz.

    Logged at the moment it expired, so reading it twice (a crash before the
    entry was removed) is recognised as the same record.
    """
    reply = f"451 4.4.7 Kept in the Sluice spool longer than {max_age:.0f}s, PowerMTA unavailable"
    return bounce_records(entry, reply, entry.at + max_age, category="message-expired")
