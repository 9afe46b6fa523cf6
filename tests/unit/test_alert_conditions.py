"""Operational alerts: a stalled task, PowerMTA down, a growing spool, a DNS check; sent to the
local webhook receiver once each, and resolved when the condition ends."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import conf
from policy import alert_kinds
from policy.events import Event
from policy.quota import operations
from scheduler.alerts import Alerter
from scheduler.conditions import ConditionWatch, Probes
from scheduler.supervisor import Supervisor
from tests.unit.test_reputation_alerts import with_alerts
from tests.unit.test_snds import Receiver, receiver  # noqa: F401

BASE = "tenants: []\npools: {}\n"


async def test_stalled_task_downstream_and_spool_fire_once_then_resolve(
    receiver: Receiver,  # noqa: F811
) -> None:
    now = [1_000.0]
    s = with_alerts(conf.parse(BASE, environ={}), receiver.url)
    up, spool = [False], [10]

    async def size() -> int:
        return spool[0]

    hang = asyncio.Event()
    async with Supervisor(clock=lambda: now[0]) as tasks:
        tasks.every("slow", lambda: 10.0, hang.wait)
        watch = ConditionWatch(
            tasks,
            Alerter(lambda: s, clock=lambda: now[0]),
            Probes(downstream_up=lambda: up[0], spool_size=size),
            down_after=300,
            spool_window=600,
            clock=lambda: now[0],
        )
        for _ in range(8):  # 8 checks, 100 s apart: the spool grows, PowerMTA stays down
            await watch.check()
            now[0] += 100
            spool[0] += 5
        firing = sorted(e for e in receiver.events() if e[1] == "firing")
        assert firing == [
            ("downstream-down", "firing"),
            ("spool-growing", "firing"),
            ("task-stalled:slow", "firing"),
        ]
        receiver.webhook.clear()
        await watch.check()  # still the same: nothing sent again
        assert receiver.webhook == []
        up[0], spool[0] = True, 0
        hang.set()
        await asyncio.sleep(0.05)  # the task's round finishes and counts as a success
        await watch.check()
        assert sorted(receiver.events()) == [
            ("downstream-down", "resolved"),
            ("spool-growing", "resolved"),
            ("task-stalled:slow", "resolved"),
        ]


def test_builders_keep_their_keys() -> None:
    failing = alert_kinds.dns_check("acme.example", ["no DMARC record"], 1.0)
    assert (failing.key, failing.firing, failing.text) == (
        "dns-check:acme.example",
        True,
        "no DMARC record",
    )
    assert not alert_kinds.dns_check("acme.example", [], 2.0).firing
    assert alert_kinds.quota_exhausted("acme", True, 1.0).key == "quota-exhausted:acme"
    # Not a full window of samples yet: not growing.
    assert not alert_kinds.spool_growing([(0.0, 1), (10.0, 5)], 10.0, 600).firing
    # A drop inside the window: the spool is draining, not growing.
    samples = [(0.0, 1), (300.0, 9), (500.0, 2), (700.0, 8)]
    assert not alert_kinds.spool_growing(samples, 700.0, 600).firing


QUOTA = """
tenants:
  - {name: acme, pool: acme, trusted_networks: [127.0.0.1/32], sender_domains: [a.example]}
  - {name: beta, pool: beta, trusted_networks: [127.0.0.2/32], sender_domains: [b.example]}
pools:
  acme: [{ip: 192.0.2.10, vmta: a1, hostname: h1, daily_limit: 10}]
  beta: [{ip: 192.0.2.20, vmta: b1, hostname: h2}]
"""


async def test_an_exhausted_tenant_quota_alerts_until_the_day_ends_quietly(store) -> None:
    s = conf.parse(QUOTA, environ={})
    noon = datetime(2026, 12, 3, 12, tzinfo=UTC)
    sent = [
        Event("relayed", tenant="acme", client="c", mail_from="m@a.example",
              recipients=(f"r{i}@x.net",), ip="192.0.2.10", at=noon.timestamp() - 60 + i)
        for i in range(10)
    ]  # fmt: skip
    rows = await operations.quotas(s, store, noon)
    assert operations.exhausted_pools(s, rows, noon) == set()
    await store.record(sent)
    rows = await operations.quotas(s, store, noon)
    assert operations.exhausted_pools(s, rows, noon) == {"acme"}  # beta has no limit
    late = noon.replace(hour=23)
    assert operations.exhausted_pools(s, await operations.quotas(s, store, late), late) == set()


async def test_the_watch_sends_quota_exhausted_then_resolved(
    receiver: Receiver,  # noqa: F811
) -> None:
    s = with_alerts(conf.parse(QUOTA, environ={}), receiver.url)
    state = {"acme": True, "beta": False}

    async def exhausted() -> dict[str, bool]:
        return dict(state)

    async with Supervisor() as tasks:
        watch = ConditionWatch(
            tasks, Alerter(lambda: s), Probes(quota_exhausted=exhausted), clock=lambda: 5_000.0
        )
        await watch.check()
        assert receiver.events() == [("quota-exhausted:acme", "firing")]
        receiver.webhook.clear()
        state["acme"] = False
        await watch.check()
        assert receiver.events() == [("quota-exhausted:acme", "resolved")]


async def test_a_quarantined_ip_alerts_with_its_reason_then_resolves(
    receiver: Receiver,  # noqa: F811
) -> None:
    s = with_alerts(conf.parse(QUOTA, environ={}), receiver.url)
    found = {"192.0.2.10": "quarantined: bounce rate over the limit (12.0 %)"}

    async def quarantined() -> dict[str, str]:
        return dict(found)

    async with Supervisor() as tasks:
        watch = ConditionWatch(
            tasks, Alerter(lambda: s), Probes(quarantined=quarantined), clock=lambda: 5_000.0
        )
        await watch.check()
        assert receiver.events() == [("ip-quarantined:192.0.2.10", "firing")]
        assert "bounce rate" in json.loads(receiver.webhook[0][0])["text"]
        receiver.webhook.clear()
        await watch.check()  # still quarantined: nothing new
        assert receiver.webhook == []
        found.clear()
        await watch.check()
        assert receiver.events() == [("ip-quarantined:192.0.2.10", "resolved")]
