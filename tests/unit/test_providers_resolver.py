"""warmup.resolver: the DNS server the provider groups' MX lookups ask."""

from __future__ import annotations

import pytest

import conf
from policy.providers import from_settings
from tests.support.dns_server import DnsServer
from tests.unit.test_providers import ZONE


async def test_the_configured_resolver_answers_the_mx_lookups() -> None:
    async with DnsServer(ZONE) as server:
        settings = conf.parse(f'warmup: {{resolver: "127.0.0.1:{server.port}"}}\n', environ={})
        resolver = from_settings(settings.warmup)
        try:
            assert await resolver.group("fruit.example") == "apple"
            assert await resolver.group("corp.example") == "microsoft"
        finally:
            await resolver.close()
        assert server.queries == ["fruit.example", "corp.example"]


def test_the_resolver_is_host_and_port() -> None:
    assert conf.parse("", environ={}).warmup.resolver is None
    with pytest.raises(conf.ConfigError, match=r"warmup\.resolver: must be \"host:port\""):
        conf.parse('warmup: {resolver: "127.0.0.1"}\n', environ={})
