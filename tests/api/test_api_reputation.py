"""GET /api/reputation over real HTTP, after real polling cycles over loopback UDP."""

from __future__ import annotations

import pytest

from scheduler.reputation.cycle import run_cycle
from tests.api.test_api_ips import call
from tests.support import dnsbl_zones as z
from tests.support.admin_api import serve_admin
from tests.support.dns_server import DnsServer
from tests.unit.test_reputation_poll import settings

pytestmark = pytest.mark.asyncio


async def test_the_api_shows_lists_standings_and_history(store):
    async with DnsServer(a=z.a_records(), world=z.world()) as dns:
        s = settings(dns.port, "zen.test", "world.test", ips=(z.LISTED_IP, z.PBL_IP))
        for at in (1000.0, 2000.0):
            await run_cycle(s, store, clock=lambda at=at: at)
    async with serve_admin(s, store) as server:
        status, body = await call(server, "viewer", "GET", "/api/reputation", "/api/reputation")
        assert status == 200 and body["configured"]
        assert {dl["zone"] for dl in body["lists"]} == {"zen.test", "world.test"}
        listed = [x for x in body["standings"] if x["listed"]]
        assert [(x["target"], x["zone"]) for x in listed] == [(z.LISTED_IP, "zen.test")]
        events = [h["event"] for h in body["history"]]
        assert events[:2] == ["quarantined", "listed"] and "canary-failed" in events

        path = f"/api/reputation?target={z.PBL_IP}&limit=5"
        status, body = await call(server, "viewer", "GET", path, "/api/reputation")
        assert [x["status"] for x in body["standings"]] == ["policy"]
        assert body["history"] == []


async def test_the_status_page_shows_the_listings(store):
    import aiohttp

    from admin.status_page import COOKIE
    from tests.api.test_status_page_http import _sign_in

    async with DnsServer(a=z.a_records(), world=z.world()) as dns:
        s = settings(dns.port, "zen.test", ips=(z.LISTED_IP, z.PBL_IP, z.CLEAN_IP))
        for at in (1000.0, 2000.0):
            await run_cycle(s, store, clock=lambda at=at: at)
    async with (
        serve_admin(s, store) as server,
        aiohttp.ClientSession(base_url=server.url, cookie_jar=aiohttp.DummyCookieJar()) as http,
    ):
        sid, _ = await _sign_in(http, "viewer")
        page = await (await http.get("/", headers={"Cookie": f"{COOKIE}={sid}"})).text()
    assert "<h2>Blocklists</h2>" in page
    listed = page.index(f'data-blocklist="{z.LISTED_IP}:zen.test"')
    policy = page.index(f'data-blocklist="{z.PBL_IP}:zen.test"')
    assert listed < policy and "LISTED" in page[listed:policy]
    assert f'data-blocklist="{z.CLEAN_IP}:' not in page
