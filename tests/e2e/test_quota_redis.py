"""Quota exactness across gateway processes that share one Redis."""

import asyncio
from datetime import UTC, datetime
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
DAILY = """
pools:
  acme:
    - {ip: 192.0.2.10, vmta: acme-1, hostname: mta1.acme-mail.com, daily_limit: 500}
"""
WARMING = """
pools:
  acme:
    - {{ip: 192.0.2.12, vmta: acme-new, hostname: mta3.acme-mail.com,
       warmup: {{schedule: {schedule}, started: "{today}"}}}}
"""
# (pool, extra settings, recipient domain, the counter that must read 500).
CASES = {
    "daily": (DAILY, "", "example.net", "day:192.0.2.10:{today}"),
    # 8000 a day over 16 hours without burst: 500 an hour.
    "hourly": (
        WARMING.format(schedule="big", today="{today}"),
        "warmup: {schedules: {big: {default: [8000]}}, sending_hours: 16, burst: 1}\n",
        "example.net",
        "hour:192.0.2.12:{today}T{hour}",
    ),
    "provider": (
        WARMING.format(schedule="split", today="{today}"),
        "warmup: {schedules: {split: {default: [100000], google: [500]}}, sending_hours: 1}\n",
        "gmail.com",
        "day:192.0.2.12:{today}:google",
    ),
}


def daemon_config(
    folder: Path, sink_port: int, prefix: str, pool: str, settings: str
) -> tuple[Path, int, int]:
    """One process's file: its own ports and database, the shared keys, Redis and prefix."""
    smtp, admin = free_port(), free_port()
    own = folder / f"gw{smtp}"
    own.mkdir()
    text = config_text(folder, sink_port, timeout="10", max_connections_per_client="250")
    text = text.replace('"127.0.0.1:0"', f'"127.0.0.1:{smtp}"')
    text = text.replace(f"sqlite:///{folder}/sluice.db", f"sqlite:///{own}/sluice.db")
    extra = (
        f'http: {{admin_listen: "127.0.0.1:{admin}", public_listen: "127.0.0.1:{free_port()}"}}\n'
        f"redis: {backends.REDIS_URL}\nredis_prefix: '{prefix}'\n{settings}"
    )
    path = own / "sluice.yaml"
    path.write_text(with_pools(text, pool, extra))
    return path, smtp, admin


def clear_of_the_hour() -> datetime:
    """Half past an hour of today that is not the current one: where the daemons' clocks start.

    The keys name the UTC hour and date, so a run across either would count two
    windows; from half past, the run crosses neither. Not the current hour, so a
    daemon that ignored its clock would count under another key and fail the test.
    """
    now = datetime.now(UTC)
    return now.replace(hour=(now.hour + 12) % 24, minute=30, second=0, microsecond=0)


@pytest.mark.parametrize("case", CASES)
async def test_four_processes_relay_exactly_the_limit(
    case, tmp_path, sink, redis_client, redis_prefix
):
    now = clear_of_the_hour()
    today = now.date().isoformat()
    pool, settings, domain, key = CASES[case]
    pool = pool.replace("{today}", today)
    key = key.format(today=today, hour=f"{now.hour:02d}")
    make_keys(tmp_path)
    configs = [
        daemon_config(tmp_path, sink.port, redis_prefix, pool, settings) for _ in range(PROCESSES)
    ]
    daemons = await asyncio.gather(
        *(
            Daemon.start(["run", "-c", str(path)], cwd=path.parent, clock=now)
            for path, _, _ in configs
        )
    )
    counters = RedisCounters.from_url(backends.REDIS_URL, prefix=redis_prefix)
    try:
        async with aiohttp.ClientSession(f"http://127.0.0.1:{configs[0][2]}") as http:
            async with http.get("/readyz") as r:
                assert (await r.json())["checks"]["counters"] == "ok"
        ports = [smtp for _, smtp, _ in configs]
        tally = await blast(ports, total=700, connections=200, domain=domain)
        assert tally == {"250": 500, "451 4.7.1": 200}
        assert len(sink.messages) == 500
        assert await counters.usage([key]) == {key: 500}
        # Every process carried part of it: the limit held across processes.
        for d in daemons:
            assert any("outcome=relayed" in line for line in d.log)
    finally:
        await counters.close()
        await asyncio.gather(*(d.stop() for d in daemons))
