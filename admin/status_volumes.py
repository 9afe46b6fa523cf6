"""Per-tenant volumes and PowerMTA's reachability, for the status page.

Volumes count recipients from the recorded events (the same rows the quota
rebuild and the events API read), over the last hour and the last 24 hours,
by outcome and, for what went out, by provider group: every group Sluice
knows (``policy.providers.GROUPS``), whether or not a warmup plan limits it,
so a sudden drop to one provider shows without configuring anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from policy.providers import GROUPS
from policy.store import Store

# Outcomes shown, in the order of the table; possible_duplicate counts as sent.
OUTCOMES = ("relayed", "spooled", "deferred", "rejected", "refused", "bounced", "complained")
SENT = ("relayed", "possible_duplicate")
WINDOWS = (("last hour", 3600.0), ("last 24 h", 86400.0))


@dataclass(frozen=True)
class Volume:
    tenant: str
    window: str
    outcomes: dict[str, int]  # every name of OUTCOMES
    providers: dict[str, int]  # recipients sent, by every group of GROUPS

    @property
    def deferral_percent(self) -> float:
        """Deferred among what was tried (sent, spooled, deferred, rejected)."""
        tried = sum(self.outcomes[k] for k in ("relayed", "spooled", "deferred", "rejected"))
        return 100.0 * self.outcomes["deferred"] / tried if tried else 0.0


@dataclass(frozen=True)
class DownstreamLine:
    """PowerMTA as the relay sees it (its circuit breaker)."""

    name: str  # host:port
    up: bool
    failures: int  # connection failures in a row
    down_for: float  # seconds since the first of them; 0 while up
    cause: str  # the last failure's cause


async def volumes(store: Store, tenants: Sequence[str], now: float) -> tuple[Volume, ...]:
    """Per tenant (in the order given, then any other that sent), one row per window."""
    counted = [
        (label, _count(await store.tenant_volumes(now - seconds, now)))
        for label, seconds in WINDOWS
    ]
    seen = {tenant for _, by_tenant in counted for tenant in by_tenant}
    names = list(tenants) + sorted(seen - set(tenants))
    out = []
    for tenant in names:
        for label, by_tenant in counted:
            outcomes, providers = by_tenant.get(tenant, ({}, {}))
            out.append(
                Volume(
                    tenant,
                    label,
                    {k: outcomes.get(k, 0) for k in OUTCOMES},
                    {g: providers.get(g, 0) for g in GROUPS},
                )
            )
    return tuple(out)


def _count(
    rows: Sequence[tuple[str, str, str, int]],
) -> dict[str, tuple[dict[str, int], dict[str, int]]]:
    counted: dict[str, tuple[dict[str, int], dict[str, int]]] = {}
    for tenant, kind, provider, n in rows:
        outcomes, providers = counted.setdefault(tenant, ({}, {}))
        shown = "relayed" if kind in SENT else kind
        outcomes[shown] = outcomes.get(shown, 0) + n
        if kind in SENT:
            group = provider if provider in GROUPS else "other"
            providers[group] = providers.get(group, 0) + n
    return counted
