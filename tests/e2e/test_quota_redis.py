"""Quota exactness across gateway processes that share one Redis."""

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest

from policy.counters.redis import RedisCounters
from tests.support import backends
from tests.support.daemon import Daemon, free_port
from tests.support.harness import config_text, make_keys, with_pools
from tests.support.load import blast

pytestmark = [pytest.mark.slow, pytest.mark.redis]
PROCESSES = 4
POOL = """
pools:
  acme:
    - {ip: 192.0.2.10, vmta: acme-1, hostname: mta1.acme-mail.com, daily_limit: 500}
"""


def daemon_config(folder: Path, sink_port: int, prefix: str) -> tuple[Path, int, int]:
    """One process's file: its own ports and database, the shared keys, Redis and prefix."""
    smtp, admin = free_port(), free_port()
    own = folder / f"gw{smtp}"
    own.mkdir()
    text = config_text(folder, sink_port, timeout="10", max_connections_per_client="250")
    text = text.replace('"127.0.0.1:0"', f'"127.0.0.1:{smtp}"')
    text = text.replace(f"sqlite:///{folder}/sluice.db", f"sqlite:///{own}/sluice.db")
    extra = (
        f'http: {{admin_listen: "127.0.0.1:{admin}", public_listen: "127.0.0.1:{free_port()}"}}\n'
        f"redis: {backends.REDIS_URL}\nredis_prefix: '{prefix}'\n"
    )
    path = own / "sluice.yaml"
    path.write_text(with_pools(text, POOL, extra))
    return path, smtp, admin


async def wait_clear_of_midnight() -> None:
    # The daily key names the UTC date: a run across midnight would count two days.
    now = datetime.now(UTC)
    to_midnight = (now.replace(hour=0, minute=0, second=0) + timedelta(days=1)) - now
    if to_midnight < timedelta(seconds=90):
        await asyncio.sleep(to_midnight.total_seconds() + 1)


async def test_four_processes_relay_exactly_the_limit(tmp_path, sink, redis_client, redis_prefix):
    await wait_clear_of_midnight()
    make_keys(tmp_path)
    configs = [daemon_config(tmp_path, sink.port, redis_prefix) for _ in range(PROCESSES)]
    daemons = await asyncio.gather(
        *(Daemon.start(["run", "-c", str(path)], cwd=path.parent) for path, _, _ in configs)
    )
    counters = RedisCounters.from_url(backends.REDIS_URL, prefix=redis_prefix)
    try:
        async with aiohttp.ClientSession(f"http://127.0.0.1:{configs[0][2]}") as http:
            async with http.get("/readyz") as r:
                assert (await r.json())["checks"]["counters"] == "ok"
        ports = [smtp for _, smtp, _ in configs]
        tally = await blast(ports, total=700, connections=200)
        assert tally == {"250": 500, "451 4.7.1": 200}
        assert len(sink.messages) == 500
        key = f"day:192.0.2.10:{datetime.now(UTC).date()}"
        assert await counters.usage([key]) == {key: 500}
        # Every process carried part of it: the limit held across processes.
        for d in daemons:
            assert any("outcome=relayed" in line for line in d.log)
    finally:
        await counters.close()
        await asyncio.gather(*(d.stop() for d in daemons))
