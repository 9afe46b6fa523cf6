"""Provider groups: the built-in domain list, MX suffixes, and lookups against a real
DNS server on loopback (answering, refusing and staying silent)."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest

from policy.providers import GROUPS, ProviderResolver, mx_group, static_group
from tests.support.dns_server import DnsServer
from tests.support.wait import until

ZONE = {
    "acme.example": [(5, "alt1.aspmx.l.google.com"), (1, "aspmx.l.google.com")],
    "newstyle.example": [(1, "smtp.google.com")],
    "corp.example": [(0, "corp-example.mail.protection.outlook.com")],
    "smallbiz.example": [(1, "mx-biz.mail.am0.yahoodns.net")],
    "fruit.example": [(10, "mx01.mail.icloud.com")],
    "self.example": [(10, "mx.self.example")],
    # The preferred MX decides, even when a backup sits at a known provider.
    "mixed.example": [(10, "mx.mixed.example"), (20, "mixed.mail.protection.outlook.com")],
    "nomx.example": [],
}


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("domain", "group"),
    [
        ("gmail.com", "google"),
        ("GoogleMail.com.", "google"),
        (" gmail.com ", "google"),
        ("outlook.com", "microsoft"),
        ("outlook.de", "microsoft"),
        ("hotmail.com", "microsoft"),
        ("hotmail.co.uk", "microsoft"),
        ("live.fr", "microsoft"),
        ("msn.com", "microsoft"),
        ("yahoo.com", "yahoo"),
        ("yahoo.fr", "yahoo"),
        ("yahoo.com.br", "yahoo"),
        ("ymail.com", "yahoo"),
        ("aol.com", "yahoo"),
        ("icloud.com", "apple"),
        ("me.com", "apple"),
        ("mac.com", "apple"),
        ("gmx.de", "gmx_webde"),
        ("gmx.net", "gmx_webde"),
        ("web.de", "gmx_webde"),
        ("orange.fr", "orange"),
        ("wanadoo.fr", "orange"),
        ("comcast.net", "comcast"),
        ("yahoo.co.jp", "other"),
    ],
)
def test_static_domains(domain: str, group: str) -> None:
    assert static_group(domain) == group
    assert group in GROUPS


@pytest.mark.parametrize(
    "domain", ["example.com", "live.nation.com", "mygmail.com", "gmail.com.evil.example", "gmx"]
)
def test_static_list_does_not_guess(domain: str) -> None:
    assert static_group(domain) is None


def test_mx_group_uses_the_preferred_host() -> None:
    assert mx_group([(20, "a.mail.protection.outlook.com."), (10, "ASPMX.L.GOOGLE.COM.")]) == (
        "google"
    )
    assert mx_group([(10, "mx.example.net"), (20, "aspmx.l.google.com")]) == "google"
    assert mx_group([(10, "notgoogle.com")]) == "other"
    assert mx_group([]) == "other"


@pytest.mark.parametrize(
    ("domain", "group"),
    [
        ("acme.example", "google"),
        ("newstyle.example", "google"),
        ("corp.example", "microsoft"),
        ("smallbiz.example", "yahoo"),
        ("fruit.example", "apple"),
        ("self.example", "other"),
        ("mixed.example", "microsoft"),
        ("nomx.example", "other"),
        ("missing.example", "other"),
    ],
)
async def test_mx_lookup(domain: str, group: str) -> None:
    async with DnsServer(ZONE) as server:
        resolver = ProviderResolver(["127.0.0.1"], port=server.port)
        assert await resolver.group(domain) == group
        assert server.queries == [domain]


async def test_static_domains_never_query() -> None:
    async with DnsServer(ZONE) as server:
        resolver = ProviderResolver(["127.0.0.1"], port=server.port)
        assert await resolver.group("gmail.com") == "google"
        assert await resolver.group("[192.0.2.1]") == "other"
        assert await resolver.group("") == "other"
        assert server.queries == []


async def test_answers_are_cached_for_the_record_ttl() -> None:
    clock = FakeClock()
    async with DnsServer(ZONE, ttl=120) as server:
        resolver = ProviderResolver(["127.0.0.1"], port=server.port, clock=clock)
        assert await resolver.group("acme.example") == "google"
        clock.now += 119
        assert await resolver.group("ACME.example.") == "google"
        assert server.queries == ["acme.example"]
        clock.now += 2
        assert await resolver.group("acme.example") == "google"
        assert server.queries == ["acme.example"] * 2


async def test_ttl_is_capped() -> None:
    clock = FakeClock()
    async with DnsServer(ZONE, ttl=86400) as server:
        resolver = ProviderResolver(["127.0.0.1"], port=server.port, ttl_cap=600, clock=clock)
        await resolver.group("corp.example")
        clock.now += 599
        await resolver.group("corp.example")
        assert len(server.queries) == 1
        clock.now += 2
        await resolver.group("corp.example")
        assert len(server.queries) == 2


async def test_negative_answers_are_cached_briefly() -> None:
    clock = FakeClock()
    async with DnsServer(ZONE, ttl=3600) as server:
        resolver = ProviderResolver(["127.0.0.1"], port=server.port, negative_ttl=30, clock=clock)
        assert await resolver.group("missing.example") == "other"
        assert await resolver.group("nomx.example") == "other"
        clock.now += 29
        await resolver.group("missing.example")
        await resolver.group("nomx.example")
        assert len(server.queries) == 2
        clock.now += 2
        await resolver.group("missing.example")
        assert len(server.queries) == 3


async def test_concurrent_lookups_share_one_query() -> None:
    async with DnsServer(ZONE) as server:
        resolver = ProviderResolver(["127.0.0.1"], port=server.port)
        groups = await asyncio.gather(*(resolver.group("corp.example") for _ in range(20)))
        assert set(groups) == {"microsoft"}
        assert server.queries == ["corp.example"]


async def test_silent_server_costs_one_budget_and_answers_other() -> None:
    clock = FakeClock()
    async with DnsServer(ZONE) as server:
        server.silent = True
        resolver = ProviderResolver(
            ["127.0.0.1"], port=server.port, budget=0.2, failure_ttl=5, clock=clock
        )
        started = time.monotonic()
        assert await resolver.group("acme.example") == "other"
        assert time.monotonic() - started < 0.5
        # The failure is remembered briefly, so the next recipients do not wait again.
        started = time.monotonic()
        assert await resolver.group("acme.example") == "other"
        assert time.monotonic() - started < 0.05
        # Once it has expired, a server that answers again is asked again.
        server.silent = False
        clock.now += 6
        assert await resolver.group("acme.example") == "google"


async def test_closed_port_answers_other_quickly() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    resolver = ProviderResolver(["127.0.0.1"], port=port, budget=0.3)
    started = time.monotonic()
    assert await resolver.group("acme.example") == "other"
    assert time.monotonic() - started < 1.0


async def test_a_cancelled_caller_does_not_cancel_the_shared_lookup() -> None:
    async with DnsServer(ZONE) as server:
        server.silent = True
        resolver = ProviderResolver(["127.0.0.1"], port=server.port, budget=0.3)
        first = asyncio.create_task(resolver.group("acme.example"))
        second = asyncio.create_task(resolver.group("acme.example"))
        await until(lambda: server.queries, what="the shared lookup reaching the server")
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        assert await second == "other"
        await resolver.close()


async def test_cache_is_bounded() -> None:
    zone = {f"d{i}.example": [(10, "aspmx.l.google.com")] for i in range(5)}
    async with DnsServer(zone) as server:
        resolver = ProviderResolver(["127.0.0.1"], port=server.port, max_entries=3)
        for i in range(5):
            assert await resolver.group(f"d{i}.example") == "google"
        assert len(resolver._cache) == 3
        await resolver.group("d4.example")
        assert len(server.queries) == 5
