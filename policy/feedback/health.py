"""IP health: rolling bounce, complaint and deferral rates, and what they call for.

Pure: counts in, findings out. The counts are recipients per IP, provider
group and event kind over a window (``Store.feedback_counts``): relayed
(the denominator), bounced, complained and delayed. Each IP is judged as a
whole and per provider group, over the last hour and the last day, and only
once the window relayed ``min_sample`` messages, so three bounces out of
ten on a quiet morning do not quarantine an IP.

Thresholds (``feedback.health``), after Gmail's and Yahoo's sender rules:
bounces above ``bounce_rate`` (5%) and complaints above
``complaint_quarantine`` (0.3%) quarantine the IP; complaints above
``complaint_warn`` (0.1%) hold it (its warmup does not advance); deferrals
above ``deferral_warn`` throttle it toward that provider group (or all of
them, when judged over all). Blocks count as bounces: a provider refusing
the IP is the strongest sign. Tenants are judged on their complaints over
every IP they sent from: above the lines they are warned about, and an
operator decides (a tenant's list is theirs to clean).

Only matched feedback is counted: an event is recorded only for a recipient
a VERP token (or PowerMTA's own record) names (``policy.feedback.verp``).
And a rate can never exceed what was relayed: ``judge`` counts at most as
many bounces, complaints or deferrals as the window relayed (``bounded``),
so a burst of feedback about mail sent before the window, or any count
that got in by another way, reads as at most 100 %, never 163 %.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from conf.schema import HealthSettings

ALL = "*"  # the provider group of an IP's totals
WINDOWS = (("1h", 3600.0), ("24h", 86400.0))


@dataclass
class Counts:
    relayed: int = 0
    bounced: int = 0
    complained: int = 0
    delayed: int = 0


@dataclass(frozen=True)
class Finding:
    ip: str
    provider: str  # a provider group, or ALL
    window: str  # "1h" | "24h"
    metric: str  # bounce | complaint | deferral
    rate: float
    sample: int  # relayed in the window
    action: str  # hold | throttle | quarantine; for a tenant: warn | critical
    tenant: str = ""  # set for a tenant's finding (ip is then "")

    def describe(self) -> str:
        if self.tenant:
            return (
                f"tenant {self.tenant} {self.metric} rate {self.rate:.2%} over {self.window}"
                f" ({self.sample} relayed)"
            )
        scope = "all providers" if self.provider == ALL else self.provider
        return (
            f"{self.metric} rate {self.rate:.2%} over {self.window} to {scope}"
            f" ({self.sample} relayed)"
        )


def bounded(n: int, relayed: int) -> int:
    """Feedback counted against a window: never more than the window relayed."""
    return max(0, min(n, relayed))


def tally(rows: Iterable[tuple[str, str, str, int]]) -> dict[tuple[str, str], Counts]:
    """Counts per (ip, provider group) and per (ip, ALL) from ``feedback_counts`` rows."""
    out: dict[tuple[str, str], Counts] = {}
    for ip, provider, kind, n in rows:
        if kind not in ("relayed", "bounced", "complained", "delayed"):
            continue
        for key in ((ip, provider or "other"), (ip, ALL)):
            counts = out.setdefault(key, Counts())
            setattr(counts, kind, getattr(counts, kind) + n)
    return out


def judge(
    windows: Mapping[str, Mapping[tuple[str, str], Counts]], limits: HealthSettings
) -> list[Finding]:
    """Every threshold crossed, quarantines first."""
    found: list[Finding] = []
    for window, table in windows.items():
        for (ip, provider), c in sorted(table.items()):
            if c.relayed < limits.min_sample:
                continue
            worst = bounded(c.complained, c.relayed) / c.relayed > limits.complaint_quarantine
            checks = [
                ("bounce", c.bounced, limits.bounce_rate, "quarantine"),
                ("complaint", c.complained, limits.complaint_quarantine, "quarantine")
                if worst
                else ("complaint", c.complained, limits.complaint_warn, "hold"),
                ("deferral", c.delayed, limits.deferral_warn, "throttle"),
            ]
            for metric, n, limit, action in checks:
                rate = bounded(n, c.relayed) / c.relayed
                if rate > limit:
                    found.append(Finding(ip, provider, window, metric, rate, c.relayed, action))
    found.sort(key=lambda f: f.action != "quarantine")
    return found


def tally_tenants(rows: Iterable[tuple[str, str, int]]) -> dict[str, Counts]:
    """Counts per tenant from ``tenant_feedback_counts`` rows."""
    out: dict[str, Counts] = {}
    for tenant, kind, n in rows:
        if kind in ("relayed", "bounced", "complained", "delayed"):
            counts = out.setdefault(tenant, Counts())
            setattr(counts, kind, getattr(counts, kind) + n)
    return out


def judge_tenants(
    windows: Mapping[str, Mapping[str, Counts]], limits: HealthSettings
) -> list[Finding]:
    """Each tenant whose complaint rate crossed a line, the worst level only."""
    found: list[Finding] = []
    for window, table in windows.items():
        for tenant, c in sorted(table.items()):
            if c.relayed < limits.min_sample:
                continue
            rate = bounded(c.complained, c.relayed) / c.relayed
            if rate > limits.complaint_warn:
                level = "critical" if rate > limits.complaint_quarantine else "warn"
                found.append(Finding("", ALL, window, "complaint", rate, c.relayed, level, tenant))
    return found
