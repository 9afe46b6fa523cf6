"""The scenario engine: one round claims due operations from the ledger and runs them.

A round is the upkeep (reap expired claims, move scenarios through their
lifecycle: scheduled start, queue-behind, auto-complete; resolve sends
orphaned by a dead process), then a claim round: a batch of due operations
claimed in one statement and run while a heartbeat keeps their lease, all at
once, their ledger writes grouped into a few commits (``writes``), their sends
into the pipeline bounded by ``concurrency``. The daemon's turn (``burst``)
runs the upkeep once and claim rounds until the due ones are drained.
Several daemons sharing one PostgreSQL run rounds side by side: the claim
skips rows another holds. The clock is injectable: tests drive days in
seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from conf import Settings
from conf.schema.scenarios import ScenarioSettings
from policy.events import Event
from policy.scenarios.ledger import Op
from policy.store import Store
from policy.submission import Submit
from scheduler.scenarios import crash, lifecycle, metrics, operations
from scheduler.scenarios import facts as facts_mod
from scheduler.scenarios.catalog import Catalog
from scheduler.scenarios.definitions import Definitions
from scheduler.scenarios.facts import Facts
from scheduler.scenarios.writes import Writes

log = logging.getLogger("sluice.scenarios")


@dataclass(frozen=True)
class EngineSettings:
    batch: int = 200  # operations claimed per round
    concurrency: int = 16  # sends in the pipeline at once
    lanes: int = 2  # rounds run side by side by burst()
    lease: float = 120.0  # a claim's lease; the heartbeat renews it every third
    retry_base: float = 300.0  # a 4xx's first backoff, doubling per attempt
    retry_max: float = 6 * 3600.0
    max_attempts: int = 30  # a send deferred this often fails with its last reply
    decide_poll: float = 600.0  # how often a waiting decision looks for new engagement

    @classmethod
    def of(cls, s: ScenarioSettings) -> EngineSettings:
        return cls(
            batch=s.batch, concurrency=s.concurrency, lanes=s.lanes, lease=s.lease,
            retry_base=s.retry_base, retry_max=s.retry_max, max_attempts=s.max_attempts,
            decide_poll=s.decide_poll,
        )  # fmt: skip


@dataclass
class Engine:
    store: Store
    submit: Submit
    catalog: Catalog
    settings: Callable[[], Settings]
    clock: Callable[[], float] = time.time
    config: EngineSettings = EngineSettings()
    record: Callable[[Event], None] | None = None  # the relay's event recorder
    name: str = field(default_factory=lambda: f"{socket.gethostname()}:{secrets.token_hex(4)}")
    definitions: Definitions = field(init=False)
    writes: Writes = field(init=False)  # the ledger's group commits
    sending: asyncio.Semaphore = field(init=False)  # sends in the pipeline, all rounds

    def __post_init__(self) -> None:
        self.definitions = Definitions(self.store)
        self.gates = operations.Gates()
        self.writes = Writes(self.store, self.name, self.clock)
        self.sending = asyncio.Semaphore(self.config.concurrency)

    async def round(self) -> int:
        """One pass: the upkeep, then what was due is run. The number of operations handled."""
        return await self.upkeep() + await self.claim_round()

    async def upkeep(self) -> int:
        """Expired claims back, scenarios moved through their lifecycle, sends orphaned by
        a dead process resolved (the number resolved), the metrics read."""
        now = self.clock()
        await self.store.reap_ops(now)
        await lifecycle.advance(self.store, now)
        orphans = await self.store.take_orphans(
            self.name, now, self.config.lease, self.config.batch
        )
        for op in orphans:
            await operations.resolve_orphan(self, op)
        await metrics.observe(self.store, self.clock())
        return len(orphans)

    async def claim_round(self) -> int:
        """One batch of due operations claimed and run: how many."""
        now = self.clock()
        ops = await self.store.claim_ops(self.name, now, self.config.lease, self.config.batch)
        if ops:
            crash.point("after_claim")
            await self._run(ops)
        return len(ops)

    async def burst(self, limit: int = 50) -> None:
        """The daemon's turn: the upkeep once, then batches while each is full (bounded).

        ``lanes`` rounds run side by side: while one waits on the database (its claim,
        its writes), another renders, so neither the process nor the database idles.
        The upkeep's reads are once a turn, not once a batch: nothing in them changes
        within a turn that a batch needs.
        """
        await self.upkeep()

        async def lane() -> None:
            for _ in range(limit):
                if await self.claim_round() < self.config.batch:
                    return

        await asyncio.gather(*(lane() for _ in range(self.config.lanes)))

    async def run_until_idle(self, limit: int = 10_000) -> int:
        """Rounds until one finds nothing due (tests drive the clock between calls)."""
        total = 0
        for _ in range(limit):
            done = await self.round()
            total += done
            if not done:
                return total
        raise RuntimeError(f"still busy after {limit} rounds")

    async def _run(self, ops: list[Op]) -> None:
        # The batch's reads, renders and ledger writes all run at once (the writes share
        # flushes: see writes.py); only the pipeline's sends are bounded.
        facts: Facts | None = None
        try:
            facts = await facts_mod.load(self.store, self.catalog, ops)
        except Exception:
            # Each operation then reads its own, as the reads would have failed anyway.
            log.exception("scenario batch: reading its facts failed")
        beat = asyncio.create_task(self._heartbeat())

        async def one(op: Op) -> None:
            try:
                await operations.run(self, op, facts)
            except Exception:
                # The claim lapses and the reaper hands the operation back.
                log.exception("scenario operation %s (%s) failed", op.id, op.step)

        try:
            await asyncio.gather(*(one(op) for op in ops))
        finally:
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beat

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.config.lease / 3)
            await self.store.heartbeat_ops(self.name, self.clock() + self.config.lease)

    def event(self, kind: str, op: Op, reply: str, message_id: str = "", detail: str = "") -> None:
        """A send or decision, as the events API shows it (the relay's Event type)."""
        if self.record is None:
            return
        self.record(
            Event(
                kind=kind,
                tenant=op.tenant,
                client="scenarios",
                mail_from="",
                recipients=(op.email,),
                message_id=message_id,
                job=f"scenario:{op.scenario}",
                reply=reply,
                detail=detail,
                step=op.step,
                at=self.clock(),
            )
        )
