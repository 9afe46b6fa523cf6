"""Prometheus metrics counted where only policy code sees the fact.

An open or a click is judged human or machine inside ``EngagementRecorder``
(``policy.bots`` needs every click of a burst first), so it is counted
there, once the store took the event.
"""

from __future__ import annotations

from prometheus_client import Counter

ENGAGEMENT = Counter(
    "sluice_engagement_total",
    "Opens, clicks and unsubscribes recorded, by tenant, kind and classification"
    " (human or machine)",
    ["tenant", "kind", "classification"],
)
