"""/metrics names tenants and IPs: loopback (or http.metrics_networks) or an admin token."""

from __future__ import annotations

import conf
from admin.app import may_scrape
from tests.support.admin_api import serve_admin

CONFIG = """
http: {{metrics_networks: {networks}}}
tenants:
  - {{name: acme, pool: acme, trusted_networks: [127.0.0.1/32], sender_domains: [a.example]}}
pools:
  acme: [{{ip: 192.0.2.10, vmta: acme-1, hostname: h1}}]
"""


def settings(networks: str) -> conf.Settings:
    return conf.parse(CONFIG.format(networks=networks), environ={})


async def test_loopback_scrapes_without_a_token_by_default(store):
    async with serve_admin(settings('["127.0.0.0/8", "::1/128"]'), store) as server:
        async with server.session(role=None) as http, http.get("/metrics") as r:
            assert r.status == 200
            assert "sluice_" in await r.text()


async def test_outside_the_networks_a_token_is_needed(store):
    async with serve_admin(settings('["10.0.0.0/8"]'), store) as server:
        async with server.session(role=None) as http, http.get("/metrics") as r:
            assert r.status == 403
            body = await r.json()
            assert body["error"]["code"] == "forbidden"
            assert "metrics_networks" in body["error"]["message"]
        async with server.session(role="viewer") as http, http.get("/metrics") as r:
            assert r.status == 200
            assert "sluice_" in await r.text()


def test_a_wrong_token_or_an_address_outside_is_refused():
    class Ctx:
        def settings(self):
            return settings('["192.0.2.0/24"]')

    ctx = Ctx()
    assert may_scrape("192.0.2.7", "", ctx)  # type: ignore[arg-type]
    assert not may_scrape("198.51.100.1", "", ctx)  # type: ignore[arg-type]
    assert not may_scrape("198.51.100.1", "Bearer not-a-token", ctx)  # type: ignore[arg-type]
    assert not may_scrape(None, "", ctx)  # type: ignore[arg-type]
    assert may_scrape("127.0.0.1", "", None)  # no settings: loopback only
    assert not may_scrape("2001:db8::1", "", None)
