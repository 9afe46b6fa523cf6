"""The warmup clock: at each new local day, every warming IP advances, holds,
steps back, graduates or starts again.

It judges the day the IP last ran at (from its record's `as_of` date to the
start of today, in the zone of the IP's tenants) on what the store recorded:
recipients relayed, bounced and complained. `policy.quota.warmup.advance` decides;
this task only gathers the counts and writes the answer. Each write is a
compare-and-set on the record read, so two hosts running the clock decide
each day once. Warm IPs are only watched for idleness: silent for
`idle_restart_days`, they warm again from day 1. Each tick also runs the IP
rotation of the pools that have one (`scheduler/rotation.py`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import date, datetime
from typing import Protocol

from conf import PoolIp, Settings
from policy.quota import calendar, ipstate, measures
from policy.quota.ipstate import IpRecord
from policy.quota.measures import Measure
from policy.quota.selection import Planner
from policy.quota.states import IpEvent, IpState, Transition
from policy.quota.warmup import DayStats, Decision, Thresholds, advance
from scheduler import rotation
from scheduler.rotation import RotationTickStore
from scheduler.supervisor import Supervisor

log = logging.getLogger("sluice.warmup")
ACTOR = "warmup-clock"
TASK = "warmup-clock"  # its sluice_task_* label


class ClockStore(RotationTickStore, Protocol):
    async def last_sent(self, ip: str) -> float | None: ...
    async def measures(self, now: float) -> list[Measure]: ...


def thresholds(settings: Settings) -> Thresholds:
    return Thresholds(**settings.warmup.advance.model_dump())


async def tick(settings: Settings, store: ClockStore, now: datetime) -> list[Transition]:
    """One look at the date for every IP; the transitions written."""
    planner = Planner(settings.warmup)
    limits = thresholds(settings)
    states = await store.ip_states()
    # A health hold (policy.quota.measures) keeps an IP at its day, however good yesterday was.
    holds = {m.ip: m for m in await store.measures(now.timestamp()) if m.kind == measures.HOLD}
    written = []
    for pool, ips in settings.pools.items():
        zone = calendar.pool_zone(settings, pool)
        today = calendar.local_today(zone, now)
        for ip in ips:
            stored = states.get(ip.ip)
            hold = holds.get(ip.ip)
            change = await _judge(store, planner, limits, ip, stored, zone, today, now, hold)
            if change is not None:
                written.append(change)
    # After the day's judgement, so an IP graduating today can be counted warm.
    written += await rotation.tick(settings, store, now)
    return written


async def _judge(
    store: ClockStore,
    planner: Planner,
    limits: Thresholds,
    ip: PoolIp,
    stored: IpRecord | None,
    zone: str,
    today: date,
    now: datetime,
    hold: Measure | None = None,
) -> Transition | None:
    if stored is None:
        return await _first_seen(store, ip, today, now)
    warm = stored.state is IpState.WARM
    due = stored.state is IpState.WARMING and stored.as_of < today.isoformat()
    if not (warm or due):  # paused, quarantined, resting, or already judged today
        return None
    idle = await _idle_days(store, ip.ip, zone, today)
    if warm:
        if idle is None or idle < limits.idle_restart_days:
            return None
        new, change = ipstate.command(
            stored, IpEvent.RESTART, actor=ACTOR, at=now, today=today, detail=f"idle {idle} days"
        )
        return change if await store.save_ip(new, change, expect=stored) else None
    start, _ = calendar.day_bounds(zone, date.fromisoformat(stored.as_of))
    end, _ = calendar.day_bounds(zone, today)
    counts = await store.day_counts(ip.ip, start, end)
    stats = DayStats(
        sent=counts.get("relayed", 0) + counts.get("possible_duplicate", 0),
        bounced=counts.get("bounced", 0),
        complained=counts.get("complained", 0),
        quota=planner.daily(ip, stored),
    )
    schedule = planner.schedule_of(ip, stored)
    decision = advance(stored.day, stats, limits, schedule_days=schedule.days, idle_days=idle or 0)
    if hold is not None and decision.action in ("advance", "graduate"):
        decision = Decision(stored.day, "hold", f"health hold: {hold.reason}")
    state = IpState.WARM if decision.action == "graduate" else IpState.WARMING
    new = replace(
        stored,
        state=state,
        day=0 if state is IpState.WARM else decision.new_day,
        as_of=today.isoformat(),
        updated_at=now.timestamp(),
        schedule="" if state is IpState.WARM else stored.schedule,
    )
    reason = f"{decision.action}: {decision.reason}"
    change = Transition(ip.ip, stored.state, state, reason, ACTOR, now, stored.day, new.day)
    if not await store.save_ip(new, change, expect=stored):
        return None  # another clock decided this day first
    log.info("warmup %s %s day %d -> %d: %s", ip.ip, decision.action, stored.day, new.day, reason)
    return change


async def _first_seen(
    store: ClockStore, ip: PoolIp, today: date, now: datetime
) -> Transition | None:
    first = ipstate.initial(ip, today)
    if first is None:  # its warmup starts on a later date
        return None
    first = replace(first, updated_at=now.timestamp())
    reason = (
        f"first seen: warming at day {first.day} (declared start {ip.warmup.started})"
        if ip.warmup is not None
        else "first seen: warm"
    )
    change = Transition(ip.ip, first.state, first.state, reason, ACTOR, now, 0, first.day)
    return change if await store.save_ip(first, change, expect=None) else None


async def _idle_days(store: ClockStore, ip: str, zone: str, today: date) -> int | None:
    """Whole days without a message since the IP last sent; None if it never sent."""
    last = await store.last_sent(ip)
    if last is None:
        return None
    last_day = calendar.local_today(zone, datetime.fromtimestamp(last).astimezone())
    return max(0, (today - last_day).days - 1)


def schedule(
    tasks: Supervisor,
    settings: Callable[[], Settings],
    store: ClockStore,
    clock: Callable[[], datetime],
) -> None:
    """Tick every ``warmup.clock_interval`` seconds, read each round (a reload may change it)."""
    interval = lambda: settings().warmup.clock_interval  # noqa: E731
    tasks.every(TASK, interval, lambda: tick(settings(), store, clock()))
