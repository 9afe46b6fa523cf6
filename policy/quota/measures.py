"""Health measures on an IP short of quarantine: held, or throttled toward a provider.

The health watch (scheduler/health.py) takes them when a rate crosses a
warning line, for ``feedback.health.measure_hours``, renewed while the
rate stays over. A hold keeps the warmup clock from advancing the IP; a
throttle caps the IP's messages per hour toward one provider group (or all,
for "*") at ``feedback.health.throttle_share`` of the hourly rate it was
sending there, because a provider that defers most of an IP's mail is
asking it to slow down; warm IPs without limits are throttled too. Every
process mirrors the active ones (policy/view.py), so the SMTP path reads
no store.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

HOLD = "hold"
THROTTLE = "throttle"
ALL = "*"


@dataclass(frozen=True)
class Measure:
    ip: str
    provider: str  # a provider group, or ALL
    kind: str  # HOLD | THROTTLE
    hourly: int  # a throttle's cap per hour (0 for a hold)
    reason: str  # the finding, e.g. "deferral rate 41.00% over 1h to google (512 relayed)"
    at: float
    until: float

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.ip, self.provider, self.kind)


Measures = Mapping[tuple[str, str, str], Measure]


def held(measures: Measures, ip: str) -> Measure | None:
    return measures.get((ip, ALL, HOLD))


def throttle(measures: Measures, ip: str, group: str) -> Measure | None:
    """The tighter of the IP's throttles toward `group` and toward all providers."""
    found = [m for p in (ALL, group) if (m := measures.get((ip, p, THROTTLE))) is not None]
    return min(found, key=lambda m: m.hourly, default=None)


def throttled_groups(measures: Measures, ip: str) -> bool:
    """Whether the IP has a throttle toward one provider group (so the group matters)."""
    return any(k[0] == ip and k[2] == THROTTLE and k[1] != ALL for k in measures)


def hourly_cap(relayed: int, window_hours: float, share: float) -> int:
    """A throttle's cap: `share` of the hourly rate the window saw; at least 1, to probe."""
    return max(1, math.floor(relayed / window_hours * share))
