"""Watch each IP's rolling rates; quarantine it when they cross the line.

Every ``feedback.health.interval`` seconds the last hour's and the last
day's counts are read from the store (relays and feedback events of every
process and host), judged by ``policy.feedback.health``, and each IP over a
quarantine threshold is handed to the injected ``quarantine`` callable with
the reason and the figures. An IP over a warning line is held or throttled
(``policy.quota.measures``, saved in the store with the finding as its reason,
renewed each round while the rate stays over); tenants over the complaint
lines are warned about. Each is logged once per IP or tenant, group, window
and metric per hour, which is what an alert rule matches.

An IP is asked to be quarantined at most once a day by this process: the IP
state store keeps the state, and an operator who clears a quarantine should
not see it undone the next minute on the same window of old bounces.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from conf import Settings
from conf.schema import HealthSettings
from policy.feedback import health
from policy.feedback.health import Finding
from policy.quota import ipstate, measures
from policy.quota.measures import Measure
from policy.quota.states import IpEvent
from policy.store import Store

log = logging.getLogger("sluice.health")
TASK = "ip-health"  # its sluice_task_* label

Quarantine = Callable[[str, str, str], Awaitable[None]]  # (ip, reason kind, detail)
REASK_AFTER = 86400.0
WARN_EVERY = 3600.0


class HealthWatch:
    def __init__(
        self,
        store: Store,
        settings: Callable[[], HealthSettings],
        quarantine: Quarantine | None,
        *,
        clock: Callable[[], float] = time.time,
    ):
        self.store = store
        self.settings = settings
        self.quarantine = quarantine
        self.clock = clock
        self.asked: dict[str, float] = {}
        self.warned: dict[tuple[str, str, str, str], float] = {}

    async def check(self) -> list[Finding]:
        now = self.clock()
        windows = {
            name: health.tally(await self.store.feedback_counts(now - seconds, now))
            for name, seconds in health.WINDOWS
        }
        limits = self.settings()
        findings = health.judge(windows, limits)
        taken: dict[tuple[str, str, str], Measure] = {}
        for f in findings:
            if f.action == "quarantine":
                await self._quarantine(f, now)
                continue
            m = _measure(f, now, limits)
            # The window with the highest pace measures it best: a day of mail sent
            # in a few hours is not a day's slow trickle.
            if m.key not in taken or m.hourly > taken[m.key].hourly:
                taken[m.key] = m
            self._alert(f, now, f"ip health: {f.action} ip={f.ip}: {f.describe()}")
        for m in taken.values():
            await self.store.save_measure(m)
        tenants = {
            name: health.tally_tenants(await self.store.tenant_feedback_counts(now - seconds, now))
            for name, seconds in health.WINDOWS
        }
        for f in health.judge_tenants(tenants, limits):
            self._alert(f, now, f"tenant health {f.action}: {f.describe()}")
        return findings

    def _alert(self, f: Finding, now: float, text: str) -> None:
        # One line per IP or tenant, group, window and metric per hour: what alerting matches.
        key = (f.tenant or f.ip, f.provider, f.window, f.metric)
        if now - self.warned.get(key, 0.0) >= WARN_EVERY:
            self.warned[key] = now
            log.warning("%s", text)

    async def _quarantine(self, f: Finding, now: float) -> None:
        if now - self.asked.get(f.ip, -REASK_AFTER) < REASK_AFTER:
            return
        self.asked[f.ip] = now
        log.warning("ip health: quarantining ip=%s: %s", f.ip, f.describe())
        if self.quarantine is None:
            return
        try:
            await self.quarantine(f.ip, f.metric, f.describe())
        except Exception as exc:  # e.g. the IP is no longer configured
            log.error("ip health: could not quarantine %s: %s", f.ip, exc)


def _measure(f: Finding, now: float, limits: HealthSettings) -> Measure:
    """The hold or throttle a finding calls for, lasting ``measure_hours``."""
    until = now + limits.measure_hours * 3600
    if f.action == "hold":
        return Measure(f.ip, measures.ALL, measures.HOLD, 0, f.describe(), now, until)
    hours = dict(health.WINDOWS)[f.window] / 3600
    cap = measures.hourly_cap(f.sample, hours, limits.throttle_share)
    return Measure(f.ip, f.provider, measures.THROTTLE, cap, f.describe(), now, until)


def ipstate_quarantine(store: Store, settings: Callable[[], Settings]) -> Quarantine:
    """A ``quarantine`` that records the IP state change (actor "health") in the store."""

    async def quarantine(ip: str, reason_kind: str, detail: str) -> None:
        s = settings()
        pool_ip = next((p for pool in s.pools.values() for p in pool if p.ip == ip), None)
        if pool_ip is None:
            raise ipstate.IpStateError(f"{ip} is not in any pool")
        at = datetime.now(UTC)
        today = at.astimezone(ZoneInfo(s.warmup.timezone)).date()
        event = IpEvent.COMPLAINT if reason_kind == "complaint" else IpEvent.BOUNCE

        def decide(record: ipstate.IpRecord):
            return ipstate.command(record, event, actor="health", at=at, today=today, detail=detail)

        await ipstate.change(store, pool_ip, today, decide)

    return quarantine
