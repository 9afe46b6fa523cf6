"""Fetching Microsoft SNDS daily (the ``snds`` task) and acting on it.

Both CSV files (policy/reputation/snds.py) are fetched with aiohttp from the
configured URLs. A RED day saves a warmup ``hold`` measure for the IP (the
store's measures, as the feedback health does) lasting until the next fetch
can confirm or lift it; a RED day or a blocked range raises an alert, and a
resolved one when the next fetch no longer shows it. A fetch that fails, or
a file that does not parse, is logged and changes nothing: an outage at
Microsoft must not lift a hold or announce a false all-clear.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import aiohttp

from conf import Settings
from conf.schema.providers import SndsSettings
from policy.alerts import Alert
from policy.quota import measures
from policy.quota.measures import Measure
from policy.reputation import snds
from policy.reputation.provider_feedback import ProviderFinding
from scheduler.reputation import metrics
from scheduler.supervisor import Supervisor

log = logging.getLogger("sluice.snds")

TASK = "snds"
SLACK = 3600.0  # a hold outlives the interval by this, so a late fetch leaves no gap


class MeasureStore(Protocol):
    async def save_measure(self, measure: Measure) -> None: ...
    async def save_provider_feedback(self, findings: Sequence[ProviderFinding]) -> None: ...


@dataclass
class SndsReport:
    days: list[snds.SndsDay] = field(default_factory=list)
    ranges: list[snds.BlockedRange] = field(default_factory=list)
    held: list[str] = field(default_factory=list)
    blocked: dict[str, str] = field(default_factory=dict)
    error: str | None = None


class SndsFetchError(Exception):
    """The request failed or did not answer 200."""


async def _get(http: aiohttp.ClientSession, url: str, key: str) -> str:
    try:
        async with http.get(url, params={"key": key}) as resp:
            body = await resp.text()
            if resp.status != 200:
                raise SndsFetchError(f"{url}: HTTP {resp.status}")
            return body
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        raise SndsFetchError(f"{url}: {exc.__class__.__name__}: {exc}"[:200]) from None


async def fetch(cfg: SndsSettings) -> tuple[list[snds.SndsDay], list[snds.BlockedRange]]:
    """Both files, parsed; raises SndsFetchError or snds.SndsFormatError."""
    timeout = aiohttp.ClientTimeout(total=cfg.timeout)
    async with aiohttp.ClientSession(timeout=timeout, headers={"User-Agent": "Sluice"}) as http:
        data = await _get(http, cfg.data_url, cfg.key)
        status = await _get(http, cfg.status_url, cfg.key)
    return snds.parse_data(data), snds.parse_status(status)


async def run_once(
    settings: Settings,
    store: MeasureStore,
    alert: Callable[[Alert], Awaitable[None]],
    clock: Callable[[], float] = time.time,
) -> SndsReport:
    """One fetch: holds for RED IPs, alerts for RED and blocked ones (and their ends)."""
    cfg = settings.providers.snds
    if cfg is None:
        return SndsReport(error="providers.snds is not configured")
    try:
        days, ranges = await fetch(cfg)
    except (SndsFetchError, snds.SndsFormatError) as exc:
        log.error("snds: fetch failed, nothing changed: %s", exc)
        return SndsReport(error=str(exc))
    ours = sorted({ip.ip for pool in settings.pools.values() for ip in pool})
    now = clock()
    report = SndsReport(days, ranges, snds.red_ips(days, ours), snds.blocked_ips(ranges, ours))
    for ip in report.held:
        reason = "SNDS filter result RED at Outlook"
        hold = Measure(ip, measures.ALL, measures.HOLD, 0, reason, now, now + cfg.interval + SLACK)
        await store.save_measure(hold)
    latest = {d.ip: d.filter for d in days}  # the file is in day order: the last row wins
    for ip in ours:
        if ip in latest:
            metrics.SNDS_FILTER.labels(ip).set(snds.FILTERS.index(latest[ip]))
        metrics.SNDS_BLOCKED.labels(ip).set(1 if ip in report.blocked else 0)
    await store.save_provider_feedback(findings(days, report.blocked, ours, now))
    for a in snds.alerts(days, ranges, ours, now):
        await alert(a)
    return report


def findings(
    days: list[snds.SndsDay], blocked: dict[str, str], ours: list[str], now: float
) -> list[ProviderFinding]:
    """Each of our IPs: BLOCKED, else its last reported day, else NO DATA."""
    last = {d.ip: d for d in days}
    out = []
    for ip in ours:
        day = last.get(ip)
        if ip in blocked:
            out.append(
                ProviderFinding("snds", ip, day.end if day else "", "BLOCKED", blocked[ip], now)
            )
        elif day is not None:
            detail = f"complaints {day.complaint_rate}, trap hits {day.trap_hits}"
            out.append(ProviderFinding("snds", ip, day.end, day.filter, detail, now))
        else:  # replaces what an earlier fetch said (a BLOCKED must not outlive its block)
            out.append(ProviderFinding("snds", ip, "", "NO DATA", "no mail reported", now))
    return out


def schedule(
    tasks: Supervisor,
    settings: Callable[[], Settings],
    store: MeasureStore,
    alert: Callable[[Alert], Awaitable[None]],
) -> None:
    """Fetch every ``providers.snds.interval`` while it is configured (read each round)."""

    def interval() -> float:
        cfg = settings().providers.snds
        return cfg.interval if cfg is not None else 3600.0

    async def once() -> None:
        current = settings()
        if current.providers.snds is None:
            return
        report = await run_once(current, store, alert)
        if report.error is None:
            log.info(
                "snds: %d rows, %d blocked ranges, %d IPs held, %d blocked",
                len(report.days),
                len(report.ranges),
                len(report.held),
                len(report.blocked),
            )

    tasks.every(TASK, interval, once)
