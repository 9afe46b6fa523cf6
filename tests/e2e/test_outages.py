"""Redis and PostgreSQL go away and come back, over SMTP, through a cutting proxy."""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import asyncpg
import pytest

from policy.store import open_store
from policy.suppression import Suppression
from tests.support import backends
from tests.support.daemon import Daemon, free_port
from tests.support.harness import (
    config_text,
    make_keys,
    send,
    start_gateway_from,
    with_pools,
)
from tests.support.proxy import Proxy
from tests.support.sink import Sink
from tests.support.wait import code_is, until

pytestmark = pytest.mark.slow

LIMITED = """
pools:
  acme:
    - {ip: 192.0.2.10, vmta: acme-1, hostname: mta1.acme-mail.com, daily_limit: 1000}
"""


def through(url: str, proxy: Proxy) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)
    host = f"127.0.0.1:{proxy.port}"
    return urlunsplit(parts._replace(netloc=f"{netloc[0]}@{host}" if len(netloc) == 2 else host))


async def test_redis_down_defers_fast_and_recovers_by_itself(
    tmp_path: Path, sink: Sink, redis_client, redis_prefix
):
    target = urlsplit(backends.REDIS_URL)
    proxy = await Proxy(target.hostname or "127.0.0.1", target.port or 6379).start()
    extra = f"redis: {through(backends.REDIS_URL, proxy)}\nredis_prefix: '{redis_prefix}'\n"
    text = with_pools(config_text(tmp_path, sink.port), LIMITED, extra)
    gw = await start_gateway_from(tmp_path, text)
    try:
        assert (await send(gw.port))[0] == 250
        await proxy.cut()
        started = time.monotonic()
        code, text = await send(gw.port)
        elapsed = time.monotonic() - started
        assert (code, text[:5]) == (451, "4.3.0")
        assert elapsed < 2.5, f"a Redis outage held the client {elapsed:.1f}s"
        await proxy.start()
        await until(
            lambda: send(gw.port), done=code_is(250), timeout=10, what="recovery once Redis is back"
        )
        # The deferred attempt left no unit behind: counters agree with the sink.
        keys = [k async for k in redis_client.scan_iter(match=f"{redis_prefix}quota:day:*")]
        assert [int(await redis_client.get(k)) for k in keys] == [len(sink.messages)]
    finally:
        await gw.close()
        await gw.rt.counters.close()
        await proxy.cut()


async def test_postgres_down_serves_cached_policy_buffers_events_and_recovers(
    tmp_path: Path, sink: Sink, pg_dsn: str
):
    target = urlsplit(backends.PG_DSN)
    proxy = await Proxy(target.hostname or "127.0.0.1", target.port or 5432).start()
    smtp, admin = free_port(), free_port()
    text = config_text(tmp_path, sink.port).replace('"127.0.0.1:0"', f'"127.0.0.1:{smtp}"')
    text = text.replace(f'"sqlite:///{tmp_path}/sluice.db"', f'"{through(pg_dsn, proxy)}"')
    text += (
        f'http: {{admin_listen: "127.0.0.1:{admin}", public_listen: "127.0.0.1:{free_port()}"}}\n'
        "policy: {refresh: 0.2, max_stale: 4}\n"
    )
    (tmp_path / "sluice.yaml").write_text(text)
    make_keys(tmp_path)
    direct = open_store(pg_dsn)
    await direct.open()
    await direct.suppress([Suppression("acme", "gone@example.net", "hard_bounce", "dsn")])
    daemon = await Daemon.start(["run", "-c", str(tmp_path / "sluice.yaml")], cwd=tmp_path)
    http = aiohttp.ClientSession(f"http://127.0.0.1:{admin}")

    async def ready() -> tuple[int, dict]:
        async with http.get("/readyz") as r:
            return r.status, await r.json()

    try:
        assert (await send(smtp, to="gone@example.net"))[0] == 550
        assert (await send(smtp, to="before@example.net"))[0] == 250

        await proxy.cut()
        status, body = await until(
            ready, done=lambda r: r[1]["status"] != "ok", what="readiness seeing the store gone"
        )
        assert (status, body["status"]) == (200, "degraded"), body
        assert body["checks"]["store"] != "ok" and body["checks"]["policy"] == "ok"
        # Mail flows on the cached policy: suppression still holds.
        assert (await send(smtp, to="during@example.net"))[0] == 250
        assert (await send(smtp, to="gone@example.net"))[0] == 550
        # Past policy.max_stale the gateway defers rather than guess.
        _, text = await until(
            lambda: send(smtp, to="late@example.net"), done=code_is(451), timeout=6
        )
        assert text[:5] == "4.3.0" and "Policy store unreachable" in text
        status, body = await ready()
        assert (status, body["status"]) == (503, "not ready")

        await proxy.start()
        await until(lambda: send(smtp, to="after@example.net"), done=code_is(250), timeout=5)
        assert (await ready())[0] == 200
        # The events of the outage were kept and written once the database was back.
        conn = await asyncpg.connect(pg_dsn)
        try:
            rows = await until(
                lambda: conn.fetch("SELECT recipients FROM events WHERE kind = 'relayed'"),
                done=lambda found: len(found) == len(sink.messages),
                timeout=10,
                what="the outage's events written",
            )
        finally:
            await conn.close()
        relayed = sorted(r["recipients"] for r in rows)
        assert relayed == sorted(m.recipients[0] for m in sink.messages)
        assert {"before@example.net", "during@example.net", "after@example.net"} <= set(relayed)
    finally:
        await http.close()
        await daemon.stop()
        await direct.close()
        await proxy.cut()
