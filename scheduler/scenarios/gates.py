"""When a send may go: the window, the tenant-wide cooldown, the daily cap, the pacing;
and which A/B variant it carries.

Counts and last-send times come from the ledger's archive (executed sends),
so every process sees the same. Within one process a send holds its
scenario's lock (with a cap or pacing) and its contact's (with a cooldown)
from the check until its row is written, so concurrent operations cannot
both pass one check.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from policy.scenarios import ab, window
from policy.scenarios.definition import Scenario, Step, seconds
from policy.scenarios.ledger import Op
from scheduler.scenarios.catalog import Recipient

if TYPE_CHECKING:
    from scheduler.scenarios.engine import Engine

ROUNDS = 6  # each gate can push the time past another's; a few passes settle it
_FREE: contextlib.nullcontext[None] = contextlib.nullcontext()


class Gates:
    def __init__(self) -> None:
        self._locks: defaultdict[tuple[str, str], asyncio.Lock] = defaultdict(asyncio.Lock)

    def hold(self, op: Op, d: Scenario) -> contextlib.AbstractAsyncContextManager[None]:
        keys = []
        if d.daily_cap or seconds(d.pacing):
            keys.append(("scenario", f"{op.tenant}/{op.scenario}"))
        if seconds(d.cooldown):
            keys.append(("contact", f"{op.tenant}/{op.email}"))
        if not keys:
            return _FREE  # nothing to count against: the common send takes no lock
        return self._holding(sorted(keys))  # one order everywhere: no deadlock

    @contextlib.asynccontextmanager
    async def _holding(self, keys: list[tuple[str, str]]) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            for key in keys:
                await stack.enter_async_context(self._locks[key])
            yield


def day_bounds(t: float, d: Scenario) -> tuple[float, float]:
    """The day holding ``t`` in the window's zone (UTC without a window)."""
    zone = ZoneInfo(d.window.timezone) if d.window is not None else UTC
    day = datetime.fromtimestamp(t, zone).date()
    start = datetime.combine(day, time(0), zone)
    end = datetime.combine(day + timedelta(days=1), time(0), zone)
    return start.timestamp(), end.timestamp()


async def earliest(
    engine: Engine, op: Op, d: Scenario, who: Recipient | None, at: float | None = None
) -> float:
    """The first time >= ``at`` (now) that every gate allows."""
    store, zone = engine.store, who.timezone if who is not None else ""
    t = engine.clock() if at is None else at
    cooldown, pacing = seconds(d.cooldown), seconds(d.pacing)
    for _ in range(ROUNDS):
        before = t
        t = window.next_allowed(t, d.window, zone)
        if cooldown:
            last = await store.last_send_to(op.tenant, op.email)
            t = max(t, last + cooldown) if last is not None else t
        if pacing:
            last = await store.last_scenario_send(op.tenant, op.scenario)
            t = max(t, last + pacing) if last is not None else t
        if d.daily_cap:
            start, end = day_bounds(t, d)
            sent, _ = await store.scenario_sends_since(op.tenant, op.scenario, start)
            t = end if sent >= d.daily_cap else t
        if t == before:
            break
    return t


async def variant_of(engine: Engine, op: Op, step: Step) -> int:
    """The recorded auto-winner's variant, else the enrollment's deterministic assignment."""
    if len(step.choices) == 1:
        return 0
    row = await engine.store.scenario(op.tenant, op.scenario)
    winners = json.loads(row.winners) if row is not None else {}
    if op.step in winners:
        return int(winners[op.step]["winner"])
    return ab.assign(op.enrollment, op.step, [v.weight for v in step.choices])
