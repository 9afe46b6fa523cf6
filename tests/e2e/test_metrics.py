"""Prometheus metrics over real sockets: a relay moves the counters, a scrape shows the quotas."""

from __future__ import annotations

import math
import os
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from conf import Settings, parse
from policy import view
from policy.counters import Limit
from policy.counters.memory import MemoryCounters
from policy.quota import calendar
from policy.quota.measures import THROTTLE, Measure
from policy.store import open_store
from policy.suppression import Suppression
from policy.view import PolicyView
from tests.support.admin_api import serve_admin
from tests.support.harness import (
    Gateway,
    config_text,
    message,
    send,
    start_gateway_from,
    with_pools,
)
from tests.support.sink import Sink

# A pinned clock: no window boundary can fall inside a test.
NOW = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
TODAY = NOW.date().isoformat()


def value(name: str, **labels: str) -> float:
    """The sample's value in this process's registry (0 when the series does not exist yet)."""
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture
async def gateway(tmp_path: Path, sink: Sink) -> AsyncIterator[Gateway]:
    pools = """
    pools:
      acme:
        - {ip: 192.0.2.10, vmta: acme-1, hostname: mta1.acme-mail.com, daily_limit: 50}
    """
    text = with_pools(config_text(tmp_path, sink.port), pools)
    gw = await start_gateway_from(tmp_path, text, clock=lambda: NOW)
    yield gw
    await gw.close()
    await gw.rt.counters.close()


async def test_a_relay_counts_messages_refusals_and_downstream_time(gateway, sink):
    relayed = dict(tenant="acme", pool="acme", ip="192.0.2.10", result="relayed")
    rejected = dict(relayed, result="rejected")
    by_step = dict(tenant="acme", step="data.relay", result="rejected", enhanced="5.1.1")
    sender = dict(tenant="acme", step="mail.sender_domain", result="rejected", enhanced="5.7.1")
    before = {
        "relayed": value("sluice_messages_total", **relayed),
        "rejected": value("sluice_messages_total", **rejected),
        "by_step": value("sluice_refusals_total", **by_step),
        "sender": value("sluice_refusals_total", **sender),
        "down_ok": value("sluice_downstream_seconds_count", outcome="relayed"),
        "down_no": value("sluice_downstream_seconds_count", outcome="rejected"),
    }
    for i in range(2):
        to = f"r{i}@example.net"
        assert (await send(gateway.port, to=to, data=message(to=to)))[0] == 250
    to = "permfail-rcpt@example.net"
    assert (await send(gateway.port, to=to, data=message(to=to)))[0] == 550
    code, _ = await send(gateway.port, sender="news@elsewhere.example")
    assert code == 550
    assert value("sluice_messages_total", **relayed) - before["relayed"] == 2
    assert value("sluice_messages_total", **rejected) - before["rejected"] == 1
    assert value("sluice_refusals_total", **by_step) - before["by_step"] == 1
    assert value("sluice_refusals_total", **sender) - before["sender"] == 1
    ok = value("sluice_downstream_seconds_count", outcome="relayed") - before["down_ok"]
    assert ok == 2
    no = value("sluice_downstream_seconds_count", outcome="rejected") - before["down_no"]
    assert no == 1
    assert value("sluice_downstream_seconds_sum", outcome="relayed") > 0
    # The relay's own reservations are what the scrape reads back.
    async with serve_admin(
        gateway.rt.settings,
        gateway.store,
        counters=gateway.rt.counters,
        policy=gateway.rt.policy,
        clock=lambda: NOW,
    ) as server:
        samples = await scrape(server.url)
    assert samples[("sluice_ip_quota_used", ip_labels("acme", "192.0.2.10", window="day"))] == 2


WARM_IP = (
    "    - {ip: 192.0.2.10, vmta: acme-warm, hostname: mta1.acme-mail.com, daily_limit: 100}\n"
)
CONFIG = f"""
tenants:
  - {{name: acme, pool: acme, sender_domains: [acme-mail.com],
      trusted_networks: ["127.0.0.2/32"]}}
  - {{name: beta, pool: beta, sender_domains: [beta.example],
      trusted_networks: ["127.0.0.3/32"], timezone: Europe/Paris}}
pools:
  acme:
    - {{ip: 192.0.2.10, vmta: acme-warm, hostname: mta1.acme-mail.com, daily_limit: 100}}
    - {{ip: 192.0.2.12, vmta: acme-new, hostname: mta3.acme-mail.com,
       warmup: {{schedule: ten, started: "{TODAY}"}}}}
  beta:
    - {{ip: 192.0.2.20, vmta: beta-1, hostname: mta1.beta.example}}
warmup: {{schedules: {{ten: {{default: [10, 20], google: [4, 8]}}}}, sending_hours: 1, burst: 1}}
"""


def ip_labels(pool: str, ip: str, **more: str) -> frozenset:
    return frozenset({"pool": pool, "ip": ip, **more}.items())


async def scrape(url: str) -> dict[tuple[str, frozenset], float]:
    async with aiohttp.ClientSession() as http, http.get(f"{url}/metrics") as resp:
        assert resp.status == 200
        text = await resp.text()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def test_scrape_shows_quotas_states_days_and_suppression_then_forgets_removed_ips(
    tmp_path,
):
    settings: Settings = parse(CONFIG, environ=os.environ)
    store = open_store(f"sqlite:///{tmp_path}/s.db")
    await store.open()
    await store.suppress(
        [
            Suppression("acme", "a@example.net", "hard_bounce"),
            Suppression("acme", "b@example.net", "unsubscribe"),
            Suppression("", "c@example.net", "complaint"),
        ]
    )
    soon = max(NOW.timestamp(), time.time()) + 3600  # the mirror reads the wall clock
    await store.save_measure(Measure("192.0.2.12", "google", THROTTLE, 40, "deferrals", 0, soon))
    mirror = PolicyView()
    await view.refresh(mirror, store)
    counters = MemoryCounters()
    day, hour = f"day:192.0.2.12:{TODAY}", f"hour:192.0.2.12:{TODAY}T{NOW.hour:02d}"
    for _ in range(3):
        await counters.reserve(
            [Limit(day, 10, 86400), Limit(hour, 10, 3600), Limit(f"{day}:google", 4, 86400)]
        )
    try:
        async with serve_admin(
            settings, store, counters=counters, policy=mirror, clock=lambda: NOW
        ) as server:
            got = await scrape(server.url)
            new = ("acme", "192.0.2.12")
            assert got[("sluice_ip_quota_used", ip_labels(*new, window="day"))] == 3
            assert got[("sluice_ip_quota_limit", ip_labels(*new, window="day"))] == 10
            assert got[("sluice_ip_quota_used", ip_labels(*new, window="hour"))] == 3
            assert got[("sluice_ip_quota_limit", ip_labels(*new, window="hour"))] == 10
            assert got[("sluice_ip_group_quota_used", ip_labels(*new, group="google"))] == 3
            assert got[("sluice_ip_group_quota_limit", ip_labels(*new, group="google"))] == 4
            assert got[("sluice_ip_state", ip_labels(*new, state="warming"))] == 1
            assert ("sluice_ip_state", ip_labels(*new, state="warm")) not in got
            assert got[("sluice_ip_warmup_day", ip_labels(*new))] == 1
            warm = ("acme", "192.0.2.10")
            assert got[("sluice_ip_state", ip_labels(*warm, state="warm"))] == 1
            assert got[("sluice_ip_quota_limit", ip_labels(*warm, window="day"))] == 100
            assert ("sluice_ip_quota_limit", ip_labels(*warm, window="hour")) not in got
            assert ("sluice_ip_quota_limit", ip_labels("beta", "192.0.2.20", window="day")) not in (
                got
            )
            rotation = frozenset({("pool", "acme")})
            assert got[("sluice_pool_ips_in_rotation", rotation)] == 2
            remaining = "sluice_tenant_quota_remaining"
            assert got[(remaining, frozenset({"tenant": "acme", "pool": "acme"}.items()))] == 107
            beta_left = got[(remaining, frozenset({"tenant": "beta", "pool": "beta"}.items()))]
            assert math.isinf(beta_left)
            _, paris_midnight = calendar.day_bounds("Europe/Paris", NOW.date())
            end = got[("sluice_pool_day_end_timestamp_seconds", frozenset({("pool", "beta")}))]
            assert end == paris_midnight
            sizes = {
                dict(labels)["tenant"]: v
                for (name, labels), v in got.items()
                if name == "sluice_suppressed_addresses"
            }
            assert sizes == {"acme": 2, "beta": 0, "_global": 1}
            throttled = {"ip": "192.0.2.12", "provider": "google", "kind": "throttle"}
            assert got[("sluice_ip_health_measure", frozenset(throttled.items()))] == 40

            # A reload takes 192.0.2.10 out of the pool: its series go with it.
            fewer = parse(CONFIG.replace(WARM_IP, ""), environ={})
            server.ctx.settings = lambda: fewer
            after = await scrape(server.url)
            gauges = {name for name, _ in got if name.startswith("sluice_ip_")}
            assert len(gauges) == 7
            assert not [k for k in after if k[0] in gauges and ("ip", "192.0.2.10") in k[1]]
            assert after[("sluice_ip_quota_used", ip_labels(*new, window="day"))] == 3
            assert after[(remaining, frozenset({"tenant": "acme", "pool": "acme"}.items()))] == 7
            assert after[("sluice_pool_ips_in_rotation", rotation)] == 1
    finally:
        await store.close()
