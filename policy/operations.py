"""What an operator can ask and change: quotas, IP states, kill switches.

Plain functions of the settings and the stores, so the CLI and the admin API
are two thin faces of one implementation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from conf import PoolIp, Settings
from policy import calendar, ipstate
from policy.ipstate import IpRecord, IpStateError
from policy.selection import Planner
from policy.switches import GLOBAL, KINDS, Switch, SwitchError
from policy.warmup import DEFAULT_GROUP, IpEvent, Transition, hourly_limit

IP_ACTIONS = ("pause", "resume", "quarantine", "clear", "rest", "restart", "set-day")


class OperationsStore(ipstate.IpStore, Protocol):
    async def day_counts(self, ip: str, start: float, end: float) -> dict[str, int]: ...
    async def provider_counts(self, ip: str, start: float, end: float) -> dict[str, int]: ...
    async def set_switch(self, switch: Switch) -> None: ...
    async def clear_switch(self, kind: str, target: str) -> bool: ...


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
) -> list[IpQuota]:
    """Per IP of the tenant's pool (every pool without `tenant`): state, day, limits and use.

    Use comes from the shared counters when given (live, reservations
    included), else from the recorded events (what was relayed; the
    embedded default's counters live inside the daemon).
    """
    planner = Planner(settings.warmup)
    pools = list(settings.pools)
    if tenant is not None:
        match = [t for t in settings.tenants if t.name == tenant]
        if not match:
            raise ValueError(f"no tenant {tenant!r} (known: {', '.join(_tenants(settings))})")
        pools = [match[0].pool]
    states = await store.ip_states()
    out = []
    for pool in pools:
        zone = calendar.pool_zone(settings, pool)
        local = planner.local(now, zone)
        for ip in settings.pools[pool]:
            record = planner.record(ip, local.date(), states)
            out.append(await _row(settings, store, counters, planner, pool, ip, record, local))
    return out


async def _row(
    settings: Settings,
    store: OperationsStore,
    counters: Usage | None,
    planner: Planner,
    pool: str,
    ip: PoolIp,
    record: IpRecord | None,
    local: datetime,  # now, in the pool's zone
) -> IpQuota:
    zone = str(local.tzinfo)
    now = local.timestamp()
    today = local.date()
    plan = planner.plan(ip, record)
    daily = planner.daily(ip, record)
    groups = {}
    if plan is not None:
        for group in plan[0].groups:
            if group != DEFAULT_GROUP:
                groups[group] = plan[0].limit(plan[1], group)
    hourly = (
        hourly_limit(daily, calendar.pool_sending_hours(settings, pool), settings.warmup.burst)
        if plan is not None and daily is not None
        else None
    )
    day_key = f"day:{ip.ip}:{today}"
    hour_key = f"hour:{ip.ip}:{today}T{local.hour:02d}"
    group_keys = {g: f"{day_key}:{g}" for g in groups}
    if counters is not None:
        used = await counters.usage([day_key, hour_key, *group_keys.values()])
        day_used, hour_used = used.get(day_key, 0), used.get(hour_key, 0)
        group_used = {g: used.get(k, 0) for g, k in group_keys.items()}
    else:
        start, _ = calendar.day_bounds(zone, today)
        hour_start = local.replace(minute=0, second=0, microsecond=0).timestamp()
        day_used = _sent(await store.day_counts(ip.ip, start, now))
        hour_used = _sent(await store.day_counts(ip.ip, hour_start, now))
        by_group = await store.provider_counts(ip.ip, start, now)
        group_used = {g: by_group.get(g, 0) for g in groups}
    return IpQuota(
        pool=pool,
        ip=ip.ip,
        vmta=ip.vmta,
        state=record.state.value if record is not None else "not started",
        day=record.day if record is not None else 0,
        daily=Line(daily, day_used),
        hourly=Line(hourly, hour_used) if hourly is not None else None,
        groups={g: Line(limit, group_used[g]) for g, limit in groups.items()},
    )


def _sent(counts: dict[str, int]) -> int:
    return counts.get("relayed", 0) + counts.get("possible_duplicate", 0)


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
