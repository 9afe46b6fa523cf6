"""The DNS blocklist watch over real UDP against a loopback DNS server, on both stores.

The server answers every return code the test lists document (tests/support/
dnsbl_zones.py); the watch's resolver is pointed at it, never the system's.
"""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

import conf
from policy.quota.states import IpState
from scheduler.reputation.cycle import run_cycle
from tests.support import dnsbl_zones as z
from tests.support.dns_server import DnsServer

pytestmark = pytest.mark.asyncio


def settings(port: int, *zones: str, ips=(z.LISTED_IP,), domains=("clean.example",), timeout=2):
    pool = "\n".join(
        f"    - {{ip: {ip}, vmta: v{i}, hostname: h{i}.example}}" for i, ip in enumerate(ips)
    )
    return conf.parse(
        f"""
tenants:
  - {{name: acme, pool: acme, trusted_networks: [127.0.0.1/32],
     sender_domains: [{", ".join(domains)}]}}
pools:
  acme:
{pool}
reputation:
  resolver: "127.0.0.1:{port}"
  timeout: {timeout}
  lists:
{z.lists_yaml(*zones)}
""",
        environ={},
    )


@pytest.fixture
async def dns():
    async with DnsServer(a=z.a_records(), world=z.world()) as server:
        yield server


def standing(report, target, zone):
    return next(s for s in report.standings if s.target == target and s.zone == zone)


async def state(store, ip):
    record = (await store.ip_states()).get(ip)
    return record.state if record else IpState.WARM


async def test_a_listing_quarantines_after_two_cycles_and_a_delisting_restores(store, dns):
    s = settings(dns.port, "zen.test", ips=(z.LISTED_IP, z.CLEAN_IP))
    first = await run_cycle(s, store, clock=lambda: 1000.0)
    assert standing(first, z.LISTED_IP, "zen.test").status == "listed"
    assert not standing(first, z.LISTED_IP, "zen.test").listed
    assert await state(store, z.LISTED_IP) is IpState.WARM  # one cycle is not enough

    second = await run_cycle(s, store, clock=lambda: 2000.0)
    assert standing(second, z.LISTED_IP, "zen.test").listed
    assert await state(store, z.LISTED_IP) is IpState.QUARANTINED
    assert await state(store, z.CLEAN_IP) is IpState.WARM
    last = (await store.ip_history(z.LISTED_IP, 1))[0]
    assert last.actor == "reputation" and "zen.test" in last.reason
    events = [(h.target, h.event) for h in await store.reputation_history(10, z.LISTED_IP)]
    assert (z.LISTED_IP, "listed") in events and (z.LISTED_IP, "quarantined") in events
    gauge = REGISTRY.get_sample_value(
        "sluice_blacklist_listed", {"ip": z.LISTED_IP, "list": "zen.test"}
    )
    assert gauge == 1

    del dns.a[f"{z.rev(z.LISTED_IP)}.zen.test"]
    await run_cycle(s, store, clock=lambda: 3000.0)
    assert await state(store, z.LISTED_IP) is IpState.QUARANTINED  # delisting confirms too
    await run_cycle(s, store, clock=lambda: 4000.0)
    assert await state(store, z.LISTED_IP) is IpState.WARM
    events = [h.event for h in await store.reputation_history(10, z.LISTED_IP)]
    assert events[:2] == ["restored", "delisted"]


async def test_an_operator_s_later_change_is_not_undone_by_a_delisting(store, dns):
    from datetime import UTC, datetime

    from policy.quota import ipstate

    s = settings(dns.port, "zen.test")
    for at in (1000.0, 2000.0):
        await run_cycle(s, store, clock=lambda at=at: at)
    assert await state(store, z.LISTED_IP) is IpState.QUARANTINED
    now = datetime.now(UTC)
    pool_ip = s.pools["acme"][0]
    for event in ("clear", "quarantine"):  # the operator takes the quarantine over
        await ipstate.change(
            store,
            pool_ip,
            now.date(),
            lambda r, e=event: ipstate.command(r, e, actor="ops", at=now, today=now.date()),
        )
    del dns.a[f"{z.rev(z.LISTED_IP)}.zen.test"]
    for at in (3000.0, 4000.0):
        await run_cycle(s, store, clock=lambda at=at: at)
    assert await state(store, z.LISTED_IP) is IpState.QUARANTINED


async def test_error_codes_and_unknown_answers_never_count_as_listed(store, dns):
    s = settings(dns.port, "zen.test", ips=tuple(z.ERROR_IPS))
    for at in (1000.0, 2000.0, 3000.0):
        report = await run_cycle(s, store, clock=lambda at=at: at)
    for ip, code in z.ERROR_IPS.items():
        found = standing(report, ip, "zen.test")
        assert found.status == ("unknown" if code == "10.0.0.1" else "error"), ip
        assert found.answer == code and not found.listed
        assert await state(store, ip) is IpState.WARM
    events = {h.event for h in await store.reputation_history(100)}
    assert events == {"error", "unknown"}


async def test_pbl_is_policy_not_a_listing(store, dns):
    s = settings(dns.port, "zen.test", ips=(z.PBL_IP,))
    for at in (1000.0, 2000.0, 3000.0):
        report = await run_cycle(s, store, clock=lambda at=at: at)
    found = standing(report, z.PBL_IP, "zen.test")
    assert (found.status, found.answer, found.listed) == ("policy", "127.0.0.10", False)
    assert await state(store, z.PBL_IP) is IpState.WARM


async def test_a_list_that_lists_the_world_is_disabled_by_its_canary(store, dns):
    s = settings(dns.port, "world.test", "zen.test", ips=(z.CLEAN_IP,))
    for at in (1000.0, 2000.0, 3000.0):
        report = await run_cycle(s, store, clock=lambda at=at: at)
    assert "lists the world" in (report.canaries["world.test"] or "")
    assert report.canaries["zen.test"] is None
    assert {s.zone for s in report.standings} == {"zen.test"}
    assert await state(store, z.CLEAN_IP) is IpState.WARM
    failed = [h for h in await store.reputation_history(100) if h.event == "canary-failed"]
    assert len(failed) == 3 and failed[0].zone == "world.test"
    canary = REGISTRY.get_sample_value("sluice_blacklist_canary_ok", {"list": "world.test"})
    assert canary == 0


async def test_a_list_that_does_not_answer_fails_its_canary(store, dns):
    dns.silent_zones.add("slow.test")
    s = settings(dns.port, "slow.test", timeout=0.3)
    report = await run_cycle(s, store)
    assert "timeout" in (report.canaries["slow.test"] or "")
    assert report.standings == []


async def test_a_timeout_is_recorded_as_an_error(store, dns):
    dns.silent_zones.add(f"{z.rev(z.LISTED_IP)}.zen.test")
    s = settings(dns.port, "zen.test", ips=(z.LISTED_IP, z.CLEAN_IP), timeout=0.3)
    for at in (1000.0, 2000.0):
        report = await run_cycle(s, store, clock=lambda at=at: at)
    found = standing(report, z.LISTED_IP, "zen.test")
    assert found.status == "error" and "timeout" in found.answer and not found.listed
    assert standing(report, z.CLEAN_IP, "zen.test").status == "clean"
    assert await state(store, z.LISTED_IP) is IpState.WARM


async def test_a_domain_listing_alerts_only(store, dns):
    domains = (z.LISTED_DOMAIN, z.REFUSED_DOMAIN, z.IP_ERROR_DOMAIN)
    s = settings(dns.port, "dbl.test", "uribl.test", "ok.test", domains=domains)
    for at in (1000.0, 2000.0):
        report = await run_cycle(s, store, clock=lambda at=at: at)
    assert standing(report, z.LISTED_DOMAIN, "dbl.test").listed
    assert standing(report, z.LISTED_DOMAIN, "uribl.test").listed
    assert standing(report, z.REFUSED_DOMAIN, "uribl.test").status == "error"
    assert standing(report, z.IP_ERROR_DOMAIN, "dbl.test").status == "error"
    # ok.test is an alert-only IP list: listed, confirmed, and the IP left alone.
    assert standing(report, z.LISTED_IP, "ok.test").listed
    assert await state(store, z.LISTED_IP) is IpState.WARM
    assert (await store.ip_history(z.LISTED_IP, 1)) == []
    gauge = REGISTRY.get_sample_value(
        "sluice_blacklist_domain_listed", {"domain": z.LISTED_DOMAIN, "list": "dbl.test"}
    )
    assert gauge == 1


async def test_one_ip_checks_only_that_ip(store, dns):
    s = settings(dns.port, "zen.test", ips=(z.LISTED_IP, z.CLEAN_IP))
    report = await run_cycle(s, store, only_ip=z.CLEAN_IP)
    assert {s.target for s in report.standings} == {z.CLEAN_IP}
    assert report.queries == 3  # two test points and the IP
