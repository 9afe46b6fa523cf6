"""What an operator can ask and change: quotas, IP states, kill switches.

Plain functions of the settings and the stores, so the CLI and the admin API
are two thin faces of one implementation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Protocol

from conf import PoolIp, Settings
from policy import keys
from policy.feedback import health
from policy.feedback.health import Counts, Finding
from policy.providers import GROUPS
from policy.quota import calendar, capacity, ipstate, selection
from policy.quota.capacity import SendPlan
from policy.quota.ipstate import IpRecord, IpStateError
from policy.quota.selection import Candidate, Planner
from policy.quota.states import IpEvent, Transition
from policy.quota.warmup import DEFAULT_GROUP, Schedule, hourly_limit
from policy.store.protocols import EventStore, FeedbackStore, IpStateStore, SwitchStore
from policy.switches import GLOBAL, KINDS, Switch, SwitchError

IP_ACTIONS = ("pause", "resume", "quarantine", "clear", "rest", "restart", "set-day")


class OperationsStore(IpStateStore, EventStore, SwitchStore, FeedbackStore, Protocol):
    """IP states and switches to change, relayed and fed-back counts to read."""


class Usage(Protocol):
    async def usage(self, keys: Sequence[str]) -> dict[str, int]: ...


@dataclass(frozen=True)
class Line:
    limit: int | None  # None: no limit
    used: int

    @property
    def remaining(self) -> int | None:
        return None if self.limit is None else max(0, self.limit - self.used)


@dataclass(frozen=True)
class IpQuota:
    pool: str
    ip: str
    vmta: str
    state: str
    day: int  # warmup day; 0 when warm
    daily: Line
    hourly: Line | None  # warming IPs only
    groups: dict[str, Line] = field(default_factory=dict)  # provider groups with a limit
    hostname: str = ""
    schedule: str | None = None  # the schedule it warms on today; None when warm
    schedule_days: int = 0  # that schedule's length: "day N of M"
    out_of_rotation: str | None = None  # why the gateway does not use it; None: in rotation

    @property
    def in_rotation(self) -> bool:
        return self.out_of_rotation is None


def find_ip(settings: Settings, ip: str) -> tuple[str, PoolIp]:
    for pool, ips in settings.pools.items():
        for candidate in ips:
            if candidate.ip == ip:
                return pool, candidate
    known = ", ".join(p.ip for ips in settings.pools.values() for p in ips)
    raise IpStateError(f"no IP {ip} in pools (configured: {known or 'none'})")


async def quotas(
    settings: Settings,
    store: OperationsStore,
    now: datetime,
    *,
    counters: Usage | None = None,
    tenant: str | None = None,
    pool: str | None = None,
) -> list[IpQuota]:
    """Per IP of the tenant's pool, or of `pool`, or of every pool: state, day, limits and use.

    Use comes from the shared counters when given (live, reservations
    included), else from the recorded events (what was relayed; the
    embedded default's counters live inside the daemon).
    """
    planner = Planner(settings.warmup)
    pools = list(settings.pools)
    if tenant is not None:
        pools = [tenant_pool(settings, tenant)]
    elif pool is not None:
        if pool not in settings.pools:
            raise ValueError(f"no pool {pool!r} (known: {', '.join(settings.pools)})")
        pools = [pool]
    states = await store.ip_states()
    uses = [await _pool_use(settings, store, counters, planner, p, now, states) for p in pools]
    return [_row(use, x) for use in uses for x in use.limits]


def tenant_pool(settings: Settings, tenant: str) -> str:
    for t in settings.tenants:
        if t.name == tenant:
            return t.pool
    raise ValueError(f"no tenant {tenant!r} (known: {', '.join(_tenants(settings))})")


@dataclass(frozen=True)
class _Limits:
    """One IP's limits today and the counters that hold its use."""

    ip: PoolIp
    record: IpRecord | None  # stored or declared; None before its start date
    schedule: Schedule | None  # the one it warms on today; None when warm
    daily: int | None
    hourly: int | None
    groups: dict[str, int | None]  # provider groups with a limit of their own
    day_key: str  # policy.keys' names, as selection's limits use them
    hour_key: str
    today: date

    def group_key(self, group: str) -> str:
        return keys.day(self.ip.ip, self.today, group)


@dataclass(frozen=True)
class _PoolUse:
    pool: str
    local: datetime  # now, in the pool's zone
    limits: list[_Limits]  # in pool order
    used: dict[str, int]  # by counter key


def _limits(
    settings: Settings, planner: Planner, pool: str, local: datetime, states: dict[str, IpRecord]
) -> list[_Limits]:
    today = local.date()
    hours = calendar.pool_sending_hours(settings, pool)
    out = []
    for ip in settings.pools[pool]:
        record = planner.record(ip, today, states)
        plan = planner.plan(ip, record)
        daily = planner.daily(ip, record)
        hourly = groups = None
        if plan is not None and daily is not None:
            hourly = hourly_limit(daily, hours, settings.warmup.burst)
            schedule, n = plan
            groups = {g: schedule.limit(n, g) for g in schedule.groups if g != DEFAULT_GROUP}
        out.append(
            _Limits(
                ip=ip,
                record=record,
                schedule=plan[0] if plan is not None else None,
                daily=daily,
                hourly=hourly,
                groups=groups or {},
                day_key=keys.day(ip.ip, today),
                hour_key=keys.hour(ip.ip, today, local.hour),
                today=today,
            )
        )
    return out


async def _pool_use(
    settings: Settings,
    store: OperationsStore,
    counters: Usage | None,
    planner: Planner,
    pool: str,
    now: datetime,
    states: dict[str, IpRecord],
) -> _PoolUse:
    """The pool's IP limits and every counter of its IPs, in one counter round trip."""
    zone = calendar.pool_zone(settings, pool)
    local = planner.local(now, zone)
    limits = _limits(settings, planner, pool, local, states)
    if counters is not None:
        names = [k for x in limits for k in (x.day_key, x.hour_key)]
        names += [x.group_key(g) for x in limits for g in x.groups]
        return _PoolUse(pool, local, limits, await counters.usage(names))
    used: dict[str, int] = {}
    start, _ = calendar.day_bounds(zone, local.date())
    hour_start = local.replace(minute=0, second=0, microsecond=0).timestamp()
    end = now.timestamp()
    for x in limits:
        used[x.day_key] = _sent(await store.day_counts(x.ip.ip, start, end))
        used[x.hour_key] = _sent(await store.day_counts(x.ip.ip, hour_start, end))
        if x.groups:
            by_group = await store.provider_counts(x.ip.ip, start, end)
            used |= {x.group_key(g): by_group.get(g, 0) for g in x.groups}
    return _PoolUse(pool, local, limits, used)


def _row(use: _PoolUse, x: _Limits) -> IpQuota:
    used = use.used
    return IpQuota(
        pool=use.pool,
        ip=x.ip.ip,
        vmta=x.ip.vmta,
        state=x.record.state.value if x.record is not None else "not started",
        day=x.record.day if x.record is not None else 0,
        daily=Line(x.daily, used.get(x.day_key, 0)),
        hourly=Line(x.hourly, used.get(x.hour_key, 0)) if x.hourly is not None else None,
        groups={g: Line(n, used.get(x.group_key(g), 0)) for g, n in x.groups.items()},
        hostname=x.ip.hostname,
        schedule=x.schedule.name if x.schedule is not None else None,
        schedule_days=x.schedule.days if x.schedule is not None else 0,
        out_of_rotation=_why_out(x.ip, x.record),
    )


def _why_out(ip: PoolIp, record: IpRecord | None) -> str | None:
    if not ip.enabled:
        return "disabled in the configuration (enabled: false)"
    if record is None:
        assert ip.warmup is not None
        return f"starts warming on {ip.warmup.started}"
    if not record.in_rotation:
        return record.state.value
    return None


def _sent(counts: dict[str, int]) -> int:
    return counts.get("relayed", 0) + counts.get("possible_duplicate", 0)


@dataclass(frozen=True)
class PoolTotals:
    """The day of the IPs in rotation, added up (None: some IP has no daily limit)."""

    capacity: int | None
    used: int
    remaining: int | None


def totals(rows: Sequence[IpQuota]) -> PoolTotals:
    live = [r for r in rows if r.in_rotation]
    limits = [r.daily.limit for r in live]
    unlimited = any(limit is None for limit in limits)
    return PoolTotals(
        capacity=None if unlimited else sum(limit or 0 for limit in limits),
        used=sum(r.daily.used for r in live),
        remaining=None if unlimited else sum(r.daily.remaining or 0 for r in live),
    )


def exhausted_pools(
    settings: Settings, rows: Sequence[IpQuota], now: datetime, quiet: float = 7200.0
) -> set[str]:
    """Pools with nothing left to send today, while more than ``quiet`` seconds of their
    day remain (an empty quota at the end of a day is the plan, not news)."""
    out = set()
    for pool in settings.pools:
        left = totals([r for r in rows if r.pool == pool]).remaining
        zone = calendar.pool_zone(settings, pool)
        _, end = calendar.day_bounds(zone, calendar.local_today(zone, now))
        if left == 0 and end - now.timestamp() > quiet:
            out.add(pool)
    return out


async def send_plan(
    settings: Settings,
    store: OperationsStore,
    now: datetime,
    tenant: str,
    emails: int,
    *,
    counters: Usage | None = None,
    group: str | None = None,
) -> SendPlan:
    """Whether `emails` more messages fit the tenant's pool today, and on which IPs.

    `group` (a provider group) adds the IPs' limits for that group, as when
    every recipient is at that provider.
    """
    pool = tenant_pool(settings, tenant)
    if group is not None and group not in GROUPS:
        raise ValueError(f"no provider group {group!r} (known: {', '.join(GROUPS)})")
    planner = Planner(settings.warmup)
    states = await store.ip_states()
    use = await _pool_use(settings, store, counters, planner, pool, now, states)
    zone = str(use.local.tzinfo)
    ips = settings.pools[pool]
    hours = calendar.pool_sending_hours(settings, pool)
    candidates = planner.candidates(
        ips, now, group or DEFAULT_GROUP, zone=zone, states=states, sending_hours=hours
    )
    _, end = calendar.day_bounds(zone, use.local.date())
    day_ends = datetime.fromtimestamp(end, use.local.tzinfo)
    _, later = capacity.hours_after(use.local, day_ends)
    rooms = [_room(c, use.used, later) for c in selection.order(candidates, use.used, 0)]
    found = capacity.plan(rooms, emails, use.local, day_ends)
    out = tuple((x.ip.ip, why) for x in use.limits if (why := _why_out(x.ip, x.record)))
    return replace(found, out_of_rotation=out)


def _room(candidate: Candidate, used: dict[str, int], later_hours: int) -> capacity.Room:
    left = {q.kind: max(0, q.limit.limit - used.get(q.limit.key, 0)) for q in candidate.quotas}
    hourly = next((q.limit.limit for q in candidate.quotas if q.kind == "hourly"), None)
    today = capacity.room_today(
        [left.get("daily"), left.get("provider")], left.get("hourly"), hourly, later_hours
    )
    hour = left.get("hourly")
    return capacity.Room(
        ip=candidate.ip.ip,
        vmta=candidate.ip.vmta,
        warming=candidate.warming,
        today=today,
        hour=None if hour is None or today is None else min(hour, today),
        hourly=hourly,
    )


async def ip_health(
    settings: Settings, store: OperationsStore, now: datetime
) -> tuple[dict[str, dict[tuple[str, str], Counts]], list[Finding]]:
    """Per window ("1h", "24h"): counts by (ip, provider group or ALL); and what they call for."""
    end = now.timestamp()
    windows = {
        name: health.tally(await store.feedback_counts(end - seconds, end))
        for name, seconds in health.WINDOWS
    }
    return windows, health.judge(windows, settings.feedback.health)


def _tenants(settings: Settings) -> list[str]:
    return [t.name for t in settings.tenants]


async def ip_action(
    settings: Settings,
    store: OperationsStore,
    ip: str,
    action: str,
    *,
    actor: str,
    now: datetime,
    detail: str = "",
    day: int | None = None,
) -> Transition:
    """Pause, resume, quarantine, clear, rest, restart an IP, or set its warmup day."""
    if action not in IP_ACTIONS:
        raise IpStateError(f"unknown action {action!r} (known: {', '.join(IP_ACTIONS)})")
    pool, pool_ip = find_ip(settings, ip)
    today = calendar.local_today(calendar.pool_zone(settings, pool), now)
    if action == "set-day":
        if day is None:
            raise IpStateError("set-day needs the day number")
        target = day
        return await ipstate.change(
            store,
            pool_ip,
            today,
            lambda r: ipstate.set_day(r, target, actor=actor, at=now, today=today, detail=detail),
        )
    event = IpEvent(action)
    return await ipstate.change(
        store,
        pool_ip,
        today,
        lambda r: ipstate.command(r, event, actor=actor, at=now, today=today, detail=detail),
    )


def switch_target(settings: Settings, tenant: str | None) -> str:
    if tenant is None:
        return GLOBAL
    if tenant not in _tenants(settings):
        raise SwitchError(f"no tenant {tenant!r} (known: {', '.join(_tenants(settings))})")
    return tenant


async def set_switch(
    settings: Settings,
    store: OperationsStore,
    kind: str,
    tenant: str | None,
    *,
    actor: str,
    reason: str = "",
) -> Switch:
    """Turn a pause or dry-run switch on, globally (tenant None) or for one tenant."""
    if kind not in KINDS:
        raise SwitchError(f"switch kind {kind!r} is not one of {', '.join(KINDS)}")
    switch = Switch(kind, switch_target(settings, tenant), reason, actor)
    await store.set_switch(switch)
    return switch


async def clear_switch(
    settings: Settings, store: OperationsStore, kind: str, tenant: str | None
) -> bool:
    """Turn a switch off; False when it was not on."""
    return await store.clear_switch(kind, switch_target(settings, tenant))
