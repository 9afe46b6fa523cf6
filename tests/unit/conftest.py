"""The store every contract test runs against: SQLite and PostgreSQL (real server) alike."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from policy.store import open_store


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path}/s.db"


@pytest.fixture(params=["sqlite_url", "pg_dsn"])
def store_url(request) -> str:
    # pg_dsn is an async fixture: resolved here, in a sync fixture, before the loop runs.
    return request.getfixturevalue(request.param)


@pytest.fixture
async def store(store_url) -> AsyncIterator[object]:
    s = open_store(store_url)
    await s.open()
    await s.open()  # migrations are idempotent (a second host starting up)
    yield s
    await s.close()
