"""Prometheus metrics counted where only policy code sees the fact.

An open or a click is judged human or machine inside ``EngagementRecorder``
(``policy.bots`` needs every click of a burst first), so it is counted
there, once the store took the event.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from prometheus_client import Counter, values

if TYPE_CHECKING:
    from policy.engagement import Engagement

ENGAGEMENT = Counter(
    "sluice_engagement_total",
    "Opens, clicks and unsubscribes recorded, by tenant, kind and classification"
    " (human or machine)",
    ["tenant", "kind", "classification"],
)


def multiprocess() -> bool:
    """Whether prometheus_client keeps values in shared files (``gateway.metrics_dir``)."""
    return values.ValueClass is not values.MutexValue


def count_engagement(events: Iterable[Engagement]) -> None:
    """Count events the store took (each once: call it after the write that keeps them)."""
    for event in events:
        ENGAGEMENT.labels(event.tenant, event.kind, event.classification).inc()
