"""Quota counters that Redis lost (a restart without persistence) are counted again from the events.

The day of an IP that had sent 30 of 30 must not start again at zero: the
first reservation that meets a counter never counted from the store rebuilds
it from the relayed events, once, and then refuses past the limit.
"""

from datetime import UTC, datetime

import pytest

from policy.events import Event
from tests.support import backends
from tests.support.harness import config_text, send, start_gateway_from, with_pools
from tests.support.wait import until

pytestmark = [pytest.mark.slow, pytest.mark.redis]
ONE_IP = """
pools:
  acme:
    - {ip: 192.0.2.10, vmta: acme-1, hostname: mta1.acme-mail.com, daily_limit: 30}
"""


async def test_a_counter_lost_with_redis_is_counted_again_from_the_store(
    tmp_path, sink, redis_client, redis_prefix
):
    extra = f"redis: {backends.REDIS_URL}\nredis_prefix: '{redis_prefix}'\n"
    text = with_pools(config_text(tmp_path, sink.port, timeout="10"), ONE_IP, extra)
    gw = await start_gateway_from(tmp_path, text)
    day = f"day:192.0.2.10:{datetime.now(UTC).date().isoformat()}"
    try:
        for i in range(2):
            assert (await send(gw.port, to=f"r{i}@example.net"))[0] == 250
        # Earlier today, 28 more went out on this IP (another process, before a restart).
        await gw.store.record(
            [
                Event(
                    "relayed",
                    "acme",
                    "10.0.0.1",
                    "n@acme-mail.com",
                    (f"e{i}@x.net",),
                    ip="192.0.2.10",
                )
                for i in range(28)
            ]
        )
        await until(
            lambda: gw.store.day_counts("192.0.2.10", 0, 2**33),
            done=lambda counts: counts.get("relayed") == 30,
            what="the two relayed messages recorded",
        )
        # Redis restarts empty: this test's keys, and only those, are gone.
        keys = [k async for k in redis_client.scan_iter(match=redis_prefix + "*")]
        assert keys
        await redis_client.delete(*keys)

        code, reply = await send(gw.port, to="one-too-many@example.net")
        assert (code, reply[:5]) == (451, "4.7.1"), reply
        assert await gw.rt.counters.usage([day]) == {day: 30}
        assert len(sink.messages) == 2
        # Counted once: the marker stays for the window, and the count is not redone.
        assert await redis_client.exists(f"{redis_prefix}seeded:{day}")
    finally:
        await gw.close()
