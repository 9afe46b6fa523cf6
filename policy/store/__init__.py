"""Durable state: PostgreSQL in production, SQLite for the embedded default."""

from __future__ import annotations

from typing import Protocol

from policy.events import Event


class Store(Protocol):
    async def open(self) -> None: ...
    async def close(self) -> None: ...
    async def ping(self) -> None: ...
    async def record(self, events: list[Event]) -> None: ...
    async def recent_events(self, limit: int = 100) -> list[dict]: ...


def open_store(url: str) -> Store:
    """The store for a ``database`` URL (``sqlite:///path`` or ``postgresql://...``)."""
    if url.startswith("sqlite://"):
        from policy.store.sqlite import SqliteStore

        return SqliteStore(url.removeprefix("sqlite://").removeprefix("/") or "var/sluice.db")
    from policy.store.postgres import PostgresStore

    return PostgresStore(url)
