"""GET and POST /api/dns-check over real HTTP, the check asking the loopback DNS server."""

from __future__ import annotations

import pytest

from conf import load
from tests.api.test_api_ips import call
from tests.support import dnsauth_zones as z
from tests.support.admin_api import serve_admin
from tests.support.dns_server import DnsServer

pytestmark = pytest.mark.asyncio
PATH = "/api/dns-check"


async def test_viewer_reads_operator_runs_and_the_report_is_kept(store, tmp_path) -> None:
    keys = z.Keys(tmp_path)
    async with DnsServer(**z.zones(keys)) as dns:
        settings = load(z.config(tmp_path, dns.port, keys))
        async with serve_admin(settings, store) as server:
            status, body = await call(server, "viewer", "GET", PATH, PATH)
            assert status == 200 and body["report"] is None and body["configured"]
            assert body["resolver"] == f"127.0.0.1:{dns.port}" and body["interval"] == 86400

            status, body = await call(server, "viewer", "POST", PATH, PATH, json={})
            assert status == 403

            status, body = await call(
                server, "operator", "POST", PATH, PATH, json={"tenant": "beta"}
            )
            assert status == 200
            reports = {r["target"]: r for r in body["report"]["reports"]}
            assert reports["t.beta.test"]["problems"] == [
                "Tracking domain t.beta.test does not resolve (no A or AAAA record)"
            ]
            assert {r["tenant"] for r in reports.values()} == {"beta"}

            status, body = await call(server, "operator", "POST", PATH, PATH)
            assert status == 200  # no body: every tenant
            status, body = await call(server, "viewer", "GET", PATH, PATH)
            reports = {r["target"]: r for r in body["report"]["reports"]}
            assert reports["good.test"]["problems"] == [] and reports["good.test"]["notes"]
            assert body["report"]["problems"] == sum(len(r["problems"]) for r in reports.values())

            status, body = await call(
                server, "operator", "POST", PATH, PATH, json={"tenant": "nope"}
            )
            assert status == 404 and body["error"]["field"] == "tenant"


async def test_the_status_page_card_lists_each_problem_of_the_last_check(store, tmp_path) -> None:
    import aiohttp

    from admin.status_page import COOKIE
    from tests.api.test_status_page_http import _sign_in

    keys = z.Keys(tmp_path)
    async with DnsServer(**z.zones(keys)) as dns:
        settings = load(z.config(tmp_path, dns.port, keys))
        async with (
            serve_admin(settings, store) as server,
            aiohttp.ClientSession(base_url=server.url, cookie_jar=aiohttp.DummyCookieJar()) as http,
        ):
            sid, _ = await _sign_in(http, "viewer")
            cookie = {"Cookie": f"{COOKIE}={sid}"}
            before = await (await http.get("/", headers=cookie)).text()
            status, _ = await call(server, "operator", "POST", PATH, PATH, json={"tenant": "beta"})
            assert status == 200
            after = await (await http.get("/", headers=cookie)).text()
    assert "<h2>DNS authentication</h2>" in before and "Not checked yet." in before
    row = after.index('data-dns="t.beta.test"')
    assert "Tracking domain t.beta.test does not resolve" in after[row : row + 400]
    assert 'data-dns="good.test"' not in after  # acme was not checked, good.test has none
