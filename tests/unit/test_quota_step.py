"""The quota steps on their own: no counter trip for unlimited IPs, settle and abandon."""

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

import conf
from gateway import replies, runtime
from gateway.pipeline import Session, Transaction
from gateway.steps import quota
from policy.counters import CounterUnavailable, Limit
from policy.counters.memory import MemoryCounters
from policy.quota.selection import Planner

NOW = datetime(2026, 11, 21, 12, tzinfo=UTC)
KEY = "day:192.0.2.10:2026-11-21"


class Unreachable:
    """A counter store that fails every call, as Redis does when it is down."""

    async def reserve(self, limits):
        raise CounterUnavailable("down")

    async def usage(self, keys):
        raise CounterUnavailable("down")


def transaction(pool: str, counters: object) -> Transaction:
    text = f"""
tenants:
  - {{name: acme, pool: acme, trusted_networks: [127.0.0.1/32], sender_domains: [a.example]}}
pools:
  acme:
{pool}
"""
    settings = conf.parse(text, environ={})
    rt = runtime.Runtime(
        settings=settings,
        directory=None,  # type: ignore[arg-type]
        planner=Planner(settings.warmup),
        keys={},
        downstream=None,
        counters=counters,  # type: ignore[arg-type]
        providers=None,
        clock=lambda: NOW,
    )
    session = Session(id="s1", peer="127.0.0.1", port=1, listener=None)
    session.tenant = SimpleNamespace(settings=settings.tenants[0], name="acme", zone="UTC")  # type: ignore[assignment]
    return Transaction(session=session, rt=rt, candidate="a@example.net")


WARM = "    - {ip: 192.0.2.10, vmta: acme-1, hostname: h}"
CAPPED = "    - {ip: 192.0.2.10, vmta: acme-1, hostname: h, daily_limit: 2}"


async def test_an_unlimited_ip_needs_no_counter_store_at_all():
    tx = transaction(WARM, Unreachable())
    assert await quota.warmup_quota(tx) is None
    assert tx.ip is not None and tx.ip.vmta == "acme-1" and tx.reservations == []
    tx.candidate = "b@example.net"
    assert await quota.warmup_quota(tx) is None


async def test_a_store_that_is_down_defers_with_451_4_3_0():
    tx = transaction(CAPPED, Unreachable())
    verdict = await quota.warmup_quota(tx)
    assert verdict is replies.QUOTA_STORE_UNAVAILABLE and str(verdict).startswith("451 4.3.0")
    assert tx.ip is None


async def test_later_recipients_ride_the_same_ip_until_it_is_full():
    counters = MemoryCounters()
    tx = transaction(CAPPED, counters)
    assert await quota.warmup_quota(tx) is None
    assert await quota.warmup_quota(tx) is None
    assert await quota.warmup_quota(tx) is replies.RECIPIENT_DOES_NOT_FIT
    assert len(tx.reservations) == 2 and await counters.usage([KEY]) == {KEY: 2}


@pytest.mark.parametrize(
    ("verdict", "outcome", "kept"),
    [
        (replies.QUEUED, "relayed", 1),
        (replies.DOWNSTREAM_LOST, "possible_duplicate", 1),
        (replies.DOWNSTREAM_DEFERRED, "deferred", 0),
        (replies.DOWNSTREAM_REJECTED, "rejected", 0),
    ],
)
async def test_settle_keeps_what_may_have_gone_and_gives_back_the_rest(verdict, outcome, kept):
    counters = MemoryCounters()
    tx = transaction(CAPPED, counters)
    assert await quota.warmup_quota(tx) is None
    tx.in_data, tx.verdict, tx.outcome = True, verdict, outcome
    await quota.settle_quota(tx)
    assert tx.reservations == [] and await counters.usage([KEY]) == {KEY: kept}


async def test_abandon_gives_back_before_data_and_never_after():
    counters = MemoryCounters()
    tx = transaction(CAPPED, counters)
    assert await quota.warmup_quota(tx) is None
    await quota.abandon(tx)
    await quota.abandon(tx)  # twice is harmless
    assert await counters.usage([KEY]) == {KEY: 0}
    await quota.abandon(None)

    relaying = transaction(CAPPED, counters)
    assert await quota.warmup_quota(relaying) is None
    relaying.in_data = True
    await quota.abandon(relaying)
    quota.abandon_soon(relaying)
    assert await counters.usage([KEY]) == {KEY: 1} and relaying.reservations


async def test_abandon_soon_releases_from_synchronous_code():
    counters = MemoryCounters()
    reservation = await counters.reserve([Limit(KEY, 5, 60)])
    tx = transaction(CAPPED, counters)
    tx.reservations.append(reservation)
    quota.abandon_soon(tx)
    while quota._pending:
        await next(iter(quota._pending))
    assert await counters.usage([KEY]) == {KEY: 0}


async def test_a_health_throttle_caps_an_unlimited_warm_ip_per_hour():
    from policy.quota.measures import THROTTLE, Measure

    tx = transaction(WARM, MemoryCounters())
    m = Measure("192.0.2.10", "*", THROTTLE, 2, "deferral rate 40% over 1h", 0.0, 2e9)
    tx.rt.policy.measures = {m.key: m}
    granted = []
    for _ in range(3):
        t = Transaction(session=tx.session, rt=tx.rt, candidate="a@example.net")
        granted.append(await quota.warmup_quota(t))
    assert granted[:2] == [None, None]
    refused = granted[2]
    assert (refused.code, refused.enhanced) == (451, "4.7.1")
    assert refused.text == (
        "Hourly health throttle of 192.0.2.10 used (2/2); frees at 2026-11-21T13:00:00+00:00"
    )
    usage = await tx.rt.counters.usage(["throttle:192.0.2.10:2026-11-21T12:*"])
    assert usage == {"throttle:192.0.2.10:2026-11-21T12:*": 2}
