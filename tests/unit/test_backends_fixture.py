import asyncio

import asyncpg
import pytest

from tests.support import backends
from tests.support.daemon import require_free


async def test_redis_prefix_is_isolated(redis_client, redis_prefix):
    await redis_client.set(redis_prefix + "k", b"v")
    assert await redis_client.get(redis_prefix + "k") == b"v"
    assert redis_prefix.startswith("sluice-test-")


async def test_pg_schema_is_isolated(pg_dsn):
    conn = await asyncpg.connect(pg_dsn)
    try:
        schema = await conn.fetchval("select current_schema()")
        await conn.execute("create table t (x int)")
        assert schema.startswith("sluice_test_")
    finally:
        await conn.close()


async def test_a_taken_fixed_port_skips_here_and_fails_on_ci(monkeypatch):
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        monkeypatch.setattr(backends, "ON_CI", False)
        with pytest.raises(pytest.skip.Exception, match=f"port {port} is in use"):
            await require_free(port)
        monkeypatch.setattr(backends, "ON_CI", True)
        with pytest.raises(pytest.fail.Exception, match=r"on CI .* fails rather than skips"):
            await require_free(port)
    finally:
        server.close()
        await server.wait_closed()
    await require_free(port)  # free again: nothing to say
