"""Which schema version a database is at, read without migrating it.

The stores migrate when they open (``MIGRATIONS`` in ``policy.store.schema``,
under a lock, so processes starting together agree). ``sluice migrate --check``
needs the other half: whether an upgrade has migrations to run, asked of the
database as it is, so it can run before the new version starts (and in CI).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from policy.store.schema import MIGRATIONS


@dataclass(frozen=True)
class SchemaState:
    current: int  # 0: a fresh database (no schema yet)
    latest: int

    @property
    def pending(self) -> int:
        return sum(1 for version, _ in MIGRATIONS if version > self.current)


def latest() -> int:
    return max(version for version, _ in MIGRATIONS)


def sqlite_path(url: str) -> Path:
    """The file of a ``sqlite://`` URL, as ``open_store`` reads it."""
    return Path(url.removeprefix("sqlite://").removeprefix("/") or "var/sluice.db")


async def state(url: str) -> SchemaState:
    """The database's schema version and the newest this code knows."""
    if url.startswith("sqlite://"):
        return SchemaState(_sqlite_version(sqlite_path(url)), latest())
    return SchemaState(await _postgres_version(url), latest())


def _sqlite_version(path: Path) -> int:
    if not path.exists():
        return 0
    # Read-only: a check must not create or change the file.
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        row = db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
        ).fetchone()
        if row is None:
            return 0
        return int(db.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()[0])
    finally:
        db.close()


async def _postgres_version(url: str) -> int:
    import asyncpg

    conn = await asyncpg.connect(url, timeout=10)
    try:
        if await conn.fetchval("SELECT to_regclass('schema_version')") is None:
            return 0
        return int(await conn.fetchval("SELECT coalesce(max(version), 0) FROM schema_version"))
    finally:
        await conn.close()
