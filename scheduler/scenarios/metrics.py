"""The engine's Prometheus metrics: operations due, the oldest one's lag, outcomes by step."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

from policy.store import Store

OPS_DUE = Gauge(
    "sluice_scenario_ops_due", "Scenario operations due now (pending or deferred)",
    multiprocess_mode="max",
)  # fmt: skip
OLDEST_DUE_LAG = Gauge(
    "sluice_scenario_oldest_due_lag_seconds",
    "How late the oldest due scenario operation is",
    multiprocess_mode="max",
)
SENDS = Counter(
    "sluice_scenario_sends_total",
    "Scenario sends by outcome (sent, deferred, failed)",
    ["tenant", "scenario", "step", "outcome"],
)


async def observe(store: Store, now: float) -> None:
    count, oldest = await store.due_stats(now)
    OPS_DUE.set(count)
    OLDEST_DUE_LAG.set(max(0.0, now - oldest) if oldest is not None else 0.0)


def count(tenant: str, scenario: str, step: str, outcome: str) -> None:
    SENDS.labels(tenant, scenario, step, outcome).inc()
