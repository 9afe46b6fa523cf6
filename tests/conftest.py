"""Shared fixtures: real Redis and PostgreSQL, each test run in its own namespace."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest

from policy.store import open_store
from tests.support import backends


def _require(name: str, url: str, port: int) -> None:
    host, p = backends.host_port(url, port)
    if backends.reachable(host, p):
        return
    backends.unavailable(f"{name} not reachable at {host}:{p}")


@pytest.fixture
def redis_prefix(request: pytest.FixtureRequest) -> str:
    """A key prefix unique to this run and this test (no glob characters, so cleanup matches)."""
    name = re.sub(r"[^A-Za-z0-9_-]", "_", request.node.name)[:60]
    return f"{backends.REDIS_PREFIX}{name}:"


@pytest.fixture
async def redis_client(redis_prefix: str) -> AsyncIterator[object]:
    _require("Redis", backends.REDIS_URL, 6379)
    import redis.asyncio as aioredis

    client = aioredis.from_url(backends.REDIS_URL)
    try:
        yield client
    finally:
        keys = [k async for k in client.scan_iter(match=redis_prefix + "*", count=1000)]
        if keys:
            await client.delete(*keys)
        await client.aclose()


@pytest.fixture
async def pg_dsn() -> AsyncIterator[str]:
    """A DSN whose search_path is a fresh schema, dropped after the test."""
    _require("PostgreSQL", backends.PG_DSN, 5432)
    import secrets

    import asyncpg

    schema = f"{backends.PG_SCHEMA}_{secrets.token_hex(2)}"
    conn = await asyncpg.connect(backends.PG_DSN)
    try:
        await conn.execute(f'CREATE SCHEMA "{schema}"')
    finally:
        await conn.close()
    sep = "&" if "?" in backends.PG_DSN else "?"
    try:
        yield f"{backends.PG_DSN}{sep}options=-csearch_path%3D{schema}"
    finally:
        conn = await asyncpg.connect(backends.PG_DSN)
        try:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            await conn.close()


# The store every contract test runs against: SQLite and PostgreSQL (real server) alike.


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
    second = open_store(store_url)  # a second host starting up: its migrations find nothing to do
    await second.open()
    await second.close()
    yield s
    await s.close()


@pytest.fixture
async def mailwizz_db() -> AsyncIterator[object]:
    """MailWizz's delivery-server tables in a MariaDB/MySQL database of this test's own."""
    from tests.support import mysql

    _require("MariaDB/MySQL", mysql.MYSQL_URL, 3306)
    async with mysql.mailwizz_database() as db:
        yield db
