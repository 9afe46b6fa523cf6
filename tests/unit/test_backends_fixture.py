import asyncpg


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
