"""Durable state: PostgreSQL in production, SQLite for the embedded default.

The protocols, one per concern, are in `policy.store.protocols`.
"""

from __future__ import annotations

from policy.store.protocols import (
    AccountingStore,
    AdminListStore,
    AuditStore,
    EngagementStore,
    EventStore,
    FeedbackStore,
    IpStateStore,
    Lifecycle,
    MeasureStore,
    NotificationStore,
    Store,
    SuppressionStore,
    SwitchStore,
)

__all__ = [
    "AccountingStore",
    "AdminListStore",
    "AuditStore",
    "EngagementStore",
    "EventStore",
    "FeedbackStore",
    "IpStateStore",
    "Lifecycle",
    "MeasureStore",
    "NotificationStore",
    "Store",
    "SuppressionStore",
    "SwitchStore",
    "open_store",
]


def open_store(url: str) -> Store:
    """The store for a ``database`` URL (``sqlite:///path`` or ``postgresql://...``)."""
    if url.startswith("sqlite://"):
        from policy.store.sqlite import SqliteStore

        return SqliteStore(url.removeprefix("sqlite://").removeprefix("/") or "var/sluice.db")
    from policy.store.postgres import PostgresStore

    return PostgresStore(url)
