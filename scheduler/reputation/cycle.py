"""One polling cycle: canaries, then every target on every list that passed, then effects.

The targets are every sending IP of every pool and every tenant's sending,
tracking and bounce domain. Each list is first asked its RFC 5782 test
points; one that fails (down, refusing us, or listing the world) is left out
of this cycle and recorded, so its answers cannot quarantine anything.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from conf import Settings
from conf.schema.reputation import DnsList, ReputationSettings
from policy.alerts import Alert
from policy.reputation import answers
from policy.reputation.confirm import Change, HistoryEntry, Standing, step
from scheduler.reputation import effects, metrics
from scheduler.reputation.effects import ReputationStores
from scheduler.reputation.lookup import Asker

log = logging.getLogger("sluice.reputation")

Send = Callable[[Alert], Awaitable[None]]


@dataclass(frozen=True)
class Target:
    name: str
    kind: str  # "ip" or "domain"


@dataclass
class CycleReport:
    started: float
    seconds: float = 0.0
    queries: int = 0
    canaries: dict[str, str | None] = field(default_factory=dict)  # zone: why it failed
    standings: list[Standing] = field(default_factory=list)
    history: list[HistoryEntry] = field(default_factory=list)

    @property
    def queries_per_second(self) -> float:
        return self.queries / self.seconds if self.seconds else 0.0


def targets(settings: Settings, only_ip: str | None = None) -> list[Target]:
    """Every sending IP and sending, tracking and bounce domain, once each."""
    ips = {ip.ip for pool in settings.pools.values() for ip in pool}
    if only_ip is not None:
        return [Target(only_ip, "ip")]
    domains: set[str] = set()
    for tenant in settings.tenants:
        domains.update(d.lower() for d in tenant.sender_domains if d != "*")
        if tenant.bounce_domain:
            domains.add(tenant.bounce_domain.lower())
        if tenant.tracking is not None:
            host = urlsplit(str(tenant.tracking.base_url)).hostname
            if host:
                domains.add(host.lower())
    return [Target(ip, "ip") for ip in sorted(ips)] + [Target(d, "domain") for d in sorted(domains)]


async def canary(asker: Asker, dnslist: DnsList) -> str | None:
    """Why `dnslist` failed its test points, or None."""
    points = dnslist.points
    positive, negative = await asyncio.gather(
        asker.ask(dnslist, points.listed), asker.ask(dnslist, points.clean)
    )
    return answers.canary(positive, negative)


async def run_cycle(
    settings: Settings,
    store: ReputationStores,
    *,
    only_ip: str | None = None,
    clock: Callable[[], float] = time.time,
    alert: Send | None = None,
) -> CycleReport:
    """Poll once, store the standings, apply what they confirm; the report says what it saw."""
    cfg = settings.reputation
    assert cfg is not None, "reputation: is not configured"
    report = CycleReport(started=clock())
    asker = Asker(cfg)
    lists = [dnslist for dnslist in cfg.lists if dnslist.enabled]
    failures = await asyncio.gather(*(canary(asker, dnslist) for dnslist in lists))
    report.canaries = {dnslist.zone: why for dnslist, why in zip(lists, failures, strict=True)}
    for zone, why in report.canaries.items():
        metrics.CANARY.labels(zone).set(0 if why else 1)
        if why:
            log.error("reputation: %s disabled for this cycle: %s", zone, why)
            report.history.append(HistoryEntry(zone, zone, "canary-failed", why, report.started))
    live = [dnslist for dnslist in lists if report.canaries[dnslist.zone] is None]
    pairs = [(t, dl) for t in targets(settings, only_ip) for dl in live if dl.kind == t.kind]
    readings = await asyncio.gather(*(asker.ask(dl, t.name) for t, dl in pairs))
    changes = await _record(settings, cfg, store, report, pairs, readings)
    if alert is not None:
        for each in alerts_of(report, changes):
            await alert(each)
    report.queries = asker.queries
    report.seconds = clock() - report.started
    metrics.CYCLE_SECONDS.observe(report.seconds)
    return report


async def _record(
    settings: Settings,
    cfg: ReputationSettings,
    store: ReputationStores,
    report: CycleReport,
    pairs: list[tuple[Target, DnsList]],
    readings: list[answers.Reading],
) -> list[tuple[Standing, DnsList, Change]]:
    now = report.started
    before = {(s.target, s.zone): s for s in await store.reputation_standings()}
    changes: list[tuple[Standing, DnsList, Change]] = []
    for (target, dnslist), reading in zip(pairs, readings, strict=True):
        prev = before.get((target.name, dnslist.zone))
        new, change = step(prev, target.name, dnslist.zone, target.kind, reading, cfg.confirm, now)
        report.standings.append(new)
        if reading.status in (answers.Status.ERROR, answers.Status.UNKNOWN):
            report.history.append(
                HistoryEntry(target.name, dnslist.zone, reading.status.value, reading.answer, now)
            )
        if change is not None:
            changes.append((new, dnslist, change))
            report.history.append(
                HistoryEntry(target.name, dnslist.zone, change.value, reading.answer, now)
            )
        metrics.listed(new)
    await store.save_reputation(report.standings, report.history)
    applied = await effects.apply(settings, store, changes, report.standings, now)
    if applied:
        await store.save_reputation([], applied)
        report.history.extend(applied)
    return changes


def alerts_of(report: CycleReport, changes: list[tuple[Standing, DnsList, Change]]) -> list[Alert]:
    """A cycle's alerts: each list's canary (firing or passing), each confirmed change."""
    at = report.started
    out = [
        Alert(
            f"dnsbl-canary:{zone}",
            why is not None,
            f"DNS blocklist {zone} " + ("disabled" if why else "answers right again"),
            why or "it passes its RFC 5782 test points",
            at,
        )
        for zone, why in sorted(report.canaries.items())
    ]
    done = {(h.target, h.zone): h.event for h in report.history}
    for standing, dnslist, change in changes:
        listed = change is Change.LISTED
        effect = done.get((standing.target, standing.zone), "")
        effect = effect if effect in ("quarantined", "restored") else ""
        text = (f"{dnslist.zone} answered {standing.answer}" if listed else "no longer listed") + (
            f"; the IP was {effect}" if effect else ""
        )
        title = f"{standing.target} {'listed on' if listed else 'delisted from'} {dnslist.zone}"
        key = f"dnsbl:{standing.target}:{dnslist.zone}"
        out.append(Alert(key, listed, title, text, at, sure=True))
    return out
