"""Metrics computed when Prometheus scrapes: quotas, IP states, warmup days, suppression sizes.

``/metrics`` awaits ``refresh(ctx)`` before it renders the registry. The
figures come from ``policy.quota.operations.quotas`` (the same answer as the CLI
and the API) and from the process's policy mirror. Each refresh swaps in what it read at
once and every family is built afresh from it, so an IP or a tenant that a
reload removed is gone from the next scrape, and a scrape never sees half of
one refresh. Labels are configured names only: pools, IPs, tenants, the
provider groups of the schedules, and the fixed IP states.

``_created`` series are turned off for the whole registry: in the text format
Prometheus stores each as one more series per label set, which would double
the counters' cardinality for a start time nobody queries.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    disable_created_metrics,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from admin.api import AdminContext
from conf import Settings
from policy import metrics as policy_metrics
from policy import view
from policy.quota import calendar
from policy.quota.measures import HOLD, Measure
from policy.quota.operations import IpQuota, quotas
from policy.quota.states import IpState
from scheduler import metrics as task_metrics

log = logging.getLogger("sluice.admin.metrics")

disable_created_metrics()

NOT_STARTED = "not_started"  # a warming IP before its declared start date
IN_ROTATION = frozenset({IpState.WARMING.value, IpState.WARM.value})
GLOBAL = "_global"  # the suppression list every tenant shares (no tenant name starts with _)
REFRESH_TIMEOUT = 5.0  # well inside Prometheus's default 10 s scrape timeout

# key: (name, help, labels)
FAMILIES = {
    "state": (
        "sluice_ip_state",
        "1 for the state the IP is in (warming, warm, paused, quarantined, resting, not_started)",
        ("pool", "ip", "state"),
    ),
    "day": (
        "sluice_ip_warmup_day",
        "The warming IP's day on its schedule; 0 when warm",
        ("pool", "ip"),
    ),
    "limit": (
        "sluice_ip_quota_limit",
        "Messages the IP may send in the current window (day, hour); absent when unlimited",
        ("pool", "ip", "window"),
    ),
    "used": (
        "sluice_ip_quota_used",
        "Messages sent or reserved on the IP in the current window (day, hour)",
        ("pool", "ip", "window"),
    ),
    "group_limit": (
        "sluice_ip_group_quota_limit",
        "Messages the warming IP may send to the provider group today",
        ("pool", "ip", "group"),
    ),
    "group_used": (
        "sluice_ip_group_quota_used",
        "Messages sent or reserved on the IP for the provider group today",
        ("pool", "ip", "group"),
    ),
    "in_rotation": (
        "sluice_pool_ips_in_rotation",
        "Enabled IPs of the pool that are warming or warm (0: its tenants' mail waits)",
        ("pool",),
    ),
    "remaining": (
        "sluice_tenant_quota_remaining",
        "Messages the tenant's pool may still send today on its enabled IPs in rotation"
        " (+Inf when one of them has no limit; tenants sharing a pool share this figure)",
        ("tenant", "pool"),
    ),
    "day_end": (
        "sluice_pool_day_end_timestamp_seconds",
        "When the pool's quota day ends: the next midnight of its time zone (Unix time)",
        ("pool",),
    ),
    "measure": (
        "sluice_ip_health_measure",
        "A health hold (1) or throttle (its cap per hour) in force on the IP toward a provider"
        " group (* for all)",
        ("ip", "provider", "kind"),
    ),
    "suppressed": (
        "sluice_suppressed_addresses",
        "Entries on the tenant's suppression list in this process's mirror"
        " (tenant _global: the list every tenant shares)",
        ("tenant",),
    ),
}

REFRESH_SECONDS = Gauge(
    "sluice_metrics_refresh_seconds",
    "Time the last scrape spent reading quotas and IP states",
    multiprocess_mode="livemostrecent",
)
REFRESH_ERRORS = Counter(
    "sluice_metrics_refresh_errors_total",
    "Scrapes without quota and IP figures: the store or the counters failed or were too slow",
)


def _empty() -> dict[str, GaugeMetricFamily]:
    return {
        key: GaugeMetricFamily(name, text, labels=list(labels))
        for key, (name, text, labels) in FAMILIES.items()
    }


@dataclass(frozen=True)
class _Snapshot:
    """What one refresh read; the families are built from it while the registry renders."""

    settings: Settings | None = None
    now: datetime | None = None
    rows: list[IpQuota] | None = None  # None: the store or the counters failed
    suppressed: collections.Counter[str] | None = None  # None: no policy mirror
    measures: tuple[Measure, ...] = ()  # health holds and throttles in the mirror


class _Figures(Collector):
    """Serves the families of the last refresh.

    They are built during the scrape and dropped after it: kept between
    scrapes, thousands of samples would survive into the collector's oldest
    generation at every refresh and bring its full passes over the whole heap
    (the suppression mirror above all) round far more often.
    """

    def __init__(self) -> None:
        self.snapshot = _Snapshot()

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return iter(_empty().values())

    def collect(self) -> Iterator[GaugeMetricFamily]:
        return iter(_build(self.snapshot).values())


@dataclass
class _Memory:
    failing: str = ""  # why the last refresh failed, "" when it worked
    # (mirror, its seq, its size, the counts): counting walks the whole mirror,
    # so it is done again only when the mirror changed.
    suppressed: tuple[object, int, int, collections.Counter[str]] | None = None
    figures: _Figures = field(default_factory=_Figures)


_state = _Memory()
REGISTRY.register(_state.figures)


def registry() -> CollectorRegistry:
    """What ``/metrics`` renders.

    One process: the default registry. A daemon with SMTP workers
    (``gateway.metrics_dir``): every process's counters, histograms and
    gauges summed from their files, and the figures only this process
    computes at scrape time.
    """
    if not policy_metrics.multiprocess():
        return REGISTRY
    shared = CollectorRegistry()
    multiprocess.MultiProcessCollector(shared)
    shared.register(_state.figures)
    shared.register(task_metrics.LAG)
    return shared


async def refresh(ctx: AdminContext, timeout: float = REFRESH_TIMEOUT) -> None:
    """Recompute the scrape-time figures from the context's settings, store and counters."""
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
    suppressed = _suppressed(ctx.policy) if ctx.policy is not None else None
    active = tuple(ctx.policy.measures.values()) if ctx.policy is not None else ()
    _state.figures.snapshot = _Snapshot(settings, now, rows, suppressed, active)
    REFRESH_SECONDS.set(time.perf_counter() - started)


def _build(snapshot: _Snapshot) -> dict[str, GaugeMetricFamily]:
    families = _empty()
    settings = snapshot.settings
    if settings is None or snapshot.now is None:
        return families
    _pool_days(families, settings, snapshot.now)
    if snapshot.rows is not None:
        _quotas(families, settings, snapshot.rows)
    wall = snapshot.now.timestamp()
    for m in snapshot.measures:
        if m.until > wall:  # the mirror keeps one until its next refresh
            value = 1 if m.kind == HOLD else m.hourly
            families["measure"].add_metric([m.ip, m.provider, m.kind], value)
    if snapshot.suppressed is not None:
        family = families["suppressed"]
        family.add_metric([GLOBAL], snapshot.suppressed.get("", 0))
        for tenant in settings.tenants:
            family.add_metric([tenant.name], snapshot.suppressed.get(tenant.name, 0))
    return families


def _pool_days(families: dict[str, GaugeMetricFamily], settings: Settings, now: datetime) -> None:
    for pool in settings.pools:
        zone = calendar.pool_zone(settings, pool)
        _, end = calendar.day_bounds(zone, calendar.local_today(zone, now))
        families["day_end"].add_metric([pool], end)


def _quotas(
    families: dict[str, GaugeMetricFamily], settings: Settings, rows: list[IpQuota]
) -> None:
    enabled = {(pool, ip.ip): ip.enabled for pool, ips in settings.pools.items() for ip in ips}
    remaining = dict.fromkeys(settings.pools, 0.0)
    rotating = dict.fromkeys(settings.pools, 0)
    state, day = families["state"], families["day"]
    limit, used = families["limit"], families["used"]
    group_limit, group_used = families["group_limit"], families["group_used"]
    for row in rows:
        where = [row.pool, row.ip]
        name = NOT_STARTED if row.state == "not started" else row.state
        state.add_metric([*where, name], 1)
        day.add_metric(where, row.day)
        for window, line in (("day", row.daily), ("hour", row.hourly)):
            if line is None:
                continue
            used.add_metric([*where, window], line.used)
            if line.limit is not None:
                limit.add_metric([*where, window], line.limit)
        for group, line in row.groups.items():
            group_used.add_metric([*where, group], line.used)
            if line.limit is not None:
                group_limit.add_metric([*where, group], line.limit)
        if enabled.get((row.pool, row.ip), True) and name in IN_ROTATION:
            rotating[row.pool] = rotating.get(row.pool, 0) + 1
            left = row.daily.remaining
            remaining[row.pool] = remaining.get(row.pool, 0.0) + (
                math.inf if left is None else left
            )
    for pool, count in rotating.items():
        families["in_rotation"].add_metric([pool], count)
    for tenant in settings.tenants:
        families["remaining"].add_metric(
            [tenant.name, tenant.pool], remaining.get(tenant.pool, 0.0)
        )


def _suppressed(mirror: view.PolicyView) -> collections.Counter[str]:
    """Entries per tenant, counted again only when the mirror changed."""
    cached = _state.suppressed
    size = len(mirror.suppression)
    if cached is None or cached[0] is not mirror or cached[1:3] != (mirror.seq, size):
        cached = (mirror, mirror.seq, size, mirror.suppression.per_tenant())
        _state.suppressed = cached
    return cached[3]
