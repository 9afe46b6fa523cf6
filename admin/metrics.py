"""Metrics computed when Prometheus scrapes: quotas, IP states, warmup days, suppression sizes.

``/metrics`` awaits ``refresh(ctx)`` before it renders the registry. The
figures come from ``policy.operations.quotas`` (the same answer as the CLI
and the API) and from the process's policy mirror. Every gauge here is
cleared before it is set again, so an IP or a tenant that a reload removed
stops being reported at the next scrape. Labels are configured names only:
pools, IPs, tenants, provider groups of the schedules, and the fixed states.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import math
import time
from dataclasses import dataclass
from datetime import datetime

from prometheus_client import Counter, Gauge

from admin.api import AdminContext
from conf import Settings
from policy import calendar, view
from policy.operations import IpQuota, quotas
from policy.warmup import IpState

log = logging.getLogger("sluice.admin.metrics")

NOT_STARTED = "not_started"  # a warming IP before its declared start date
STATES = (*(state.value for state in IpState), NOT_STARTED)
IN_ROTATION = frozenset({IpState.WARMING.value, IpState.WARM.value})
GLOBAL = "_global"  # the suppression list every tenant shares (no tenant name starts with _)
REFRESH_TIMEOUT = 5.0  # well inside Prometheus's default 10 s scrape timeout

IP_STATE = Gauge(
    "sluice_ip_state", "1 for the state the IP is in, 0 for the others", ["pool", "ip", "state"]
)
IP_ENABLED = Gauge("sluice_ip_enabled", "1 when the configuration enables the IP", ["pool", "ip"])
IP_WARMUP_DAY = Gauge(
    "sluice_ip_warmup_day", "The warming IP's day on its schedule; 0 when warm", ["pool", "ip"]
)
QUOTA_LIMIT = Gauge(
    "sluice_ip_quota_limit",
    "Messages the IP may send in the current window (day, hour); absent when unlimited",
    ["pool", "ip", "window"],
)
QUOTA_USED = Gauge(
    "sluice_ip_quota_used",
    "Messages sent or reserved on the IP in the current window (day, hour)",
    ["pool", "ip", "window"],
)
GROUP_LIMIT = Gauge(
    "sluice_ip_group_quota_limit",
    "Messages the warming IP may send to the provider group today",
    ["pool", "ip", "group"],
)
GROUP_USED = Gauge(
    "sluice_ip_group_quota_used",
    "Messages sent or reserved on the IP for the provider group today",
    ["pool", "ip", "group"],
)
TENANT_REMAINING = Gauge(
    "sluice_tenant_quota_remaining",
    "Messages the tenant's pool may still send today on its enabled IPs in rotation"
    " (+Inf when one of them has no limit; tenants sharing a pool share this figure)",
    ["tenant", "pool"],
)
POOL_DAY_END = Gauge(
    "sluice_pool_day_end_timestamp_seconds",
    "When the pool's quota day ends: the next midnight of its time zone (Unix time)",
    ["pool"],
)
SUPPRESSED = Gauge(
    "sluice_suppressed_addresses",
    "Entries on the tenant's suppression list in this process's mirror"
    " (tenant _global: the list every tenant shares)",
    ["tenant"],
)
REFRESH_SECONDS = Gauge(
    "sluice_metrics_refresh_seconds", "Time the last scrape spent computing these figures"
)
REFRESH_ERRORS = Counter(
    "sluice_metrics_refresh_errors_total",
    "Scrapes without quota and IP figures: the store or the counters failed or were too slow",
)

_POLICY_GAUGES = (
    IP_STATE,
    IP_ENABLED,
    IP_WARMUP_DAY,
    QUOTA_LIMIT,
    QUOTA_USED,
    GROUP_LIMIT,
    GROUP_USED,
    TENANT_REMAINING,
    POOL_DAY_END,
)


@dataclass
class _Memory:
    failing: str = ""  # why the last refresh failed, "" when it worked
    # (mirror, its seq, its size, the counts): counting walks the whole mirror,
    # so it is done again only when the mirror changed.
    suppressed: tuple[object, int, int, collections.Counter[str]] | None = None


_state = _Memory()


async def refresh(ctx: AdminContext, timeout: float = REFRESH_TIMEOUT) -> None:
    """Recompute the scrape-time gauges from the context's settings, store and counters."""
    started = time.perf_counter()
    settings = ctx.settings()
    now = ctx.clock()
    rows: list[IpQuota] | None = None
    try:
        async with asyncio.timeout(timeout):
            rows = await quotas(settings, ctx.store, now, counters=ctx.counters)
    except Exception as exc:
        REFRESH_ERRORS.inc()
        if not _state.failing:
            log.warning("metrics: quotas and IP states unavailable: %r", exc)
        _state.failing = repr(exc)
    else:
        if _state.failing:
            log.info("metrics: quotas and IP states available again")
        _state.failing = ""
    # Set in one synchronous stretch: a scrape never sees a gauge half filled.
    for gauge in _POLICY_GAUGES:
        gauge.clear()
    _set_pool_days(settings, now)
    if rows is not None:
        _set_quotas(settings, rows)
    if ctx.policy is not None:
        _set_suppressed(settings, ctx.policy)
    REFRESH_SECONDS.set(time.perf_counter() - started)


def _set_pool_days(settings: Settings, now: datetime) -> None:
    for pool in settings.pools:
        zone = calendar.pool_zone(settings, pool)
        _, end = calendar.day_bounds(zone, calendar.local_today(zone, now))
        POOL_DAY_END.labels(pool).set(end)


def _set_quotas(settings: Settings, rows: list[IpQuota]) -> None:
    enabled = {(pool, ip.ip): ip.enabled for pool, ips in settings.pools.items() for ip in ips}
    remaining: dict[str, float] = {pool: 0.0 for pool in settings.pools}
    for row in rows:
        state = NOT_STARTED if row.state == "not started" else row.state
        for name in STATES:
            IP_STATE.labels(row.pool, row.ip, name).set(1 if name == state else 0)
        on = enabled.get((row.pool, row.ip), True)
        IP_ENABLED.labels(row.pool, row.ip).set(1 if on else 0)
        IP_WARMUP_DAY.labels(row.pool, row.ip).set(row.day)
        windows = (("day", row.daily), ("hour", row.hourly))
        for window, line in windows:
            if line is None:
                continue
            QUOTA_USED.labels(row.pool, row.ip, window).set(line.used)
            if line.limit is not None:
                QUOTA_LIMIT.labels(row.pool, row.ip, window).set(line.limit)
        for group, line in row.groups.items():
            GROUP_USED.labels(row.pool, row.ip, group).set(line.used)
            if line.limit is not None:
                GROUP_LIMIT.labels(row.pool, row.ip, group).set(line.limit)
        if on and state in IN_ROTATION:
            left = row.daily.remaining
            remaining[row.pool] = remaining.get(row.pool, 0.0) + (
                math.inf if left is None else left
            )
    for tenant in settings.tenants:
        TENANT_REMAINING.labels(tenant.name, tenant.pool).set(remaining.get(tenant.pool, 0.0))


def _set_suppressed(settings: Settings, mirror: view.PolicyView) -> None:
    cached = _state.suppressed
    size = len(mirror.suppression)
    if cached is None or cached[0] is not mirror or cached[1:3] != (mirror.seq, size):
        cached = (mirror, mirror.seq, size, view.suppressed_by_tenant(mirror))
        _state.suppressed = cached
    counts = cached[3]
    SUPPRESSED.clear()
    SUPPRESSED.labels(GLOBAL).set(counts.get("", 0))
    for tenant in settings.tenants:
        SUPPRESSED.labels(tenant.name).set(counts.get(tenant.name, 0))
