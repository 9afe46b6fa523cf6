"""The status page: a reason typed with a pause, and times the browser can show in its zone."""

from __future__ import annotations

import re

import aiohttp

from admin.status_page import COOKIE
from tests.api.test_status_page_http import IP, _sign_in, settings
from tests.support.admin_api import serve_admin


async def test_pausing_an_ip_or_a_tenant_keeps_the_reason_typed(store):
    async with (
        serve_admin(settings(), store) as server,
        aiohttp.ClientSession(base_url=server.url, cookie_jar=aiohttp.DummyCookieJar()) as http,
    ):
        sid, csrf = await _sign_in(http, "operator")
        cookie = {"Cookie": f"{COOKIE}={sid}"}
        page = await (await http.get("/", headers=cookie)).text()
        assert 'name="reason"' in page
        form = {"csrf": csrf, "ip": IP, "action": "pause", "reason": "  Gmail 421s\n since 9:00 "}
        r = await http.post("/ip", data=form, headers=cookie)
        assert r.status == 200
        [change] = await store.ip_history(IP)
        assert change.reason == "paused by operator (Gmail 421s since 9:00)"
        [entry] = await store.audit_entries()
        assert "Gmail 421s since 9:00" in str(entry)
        r = await http.post(
            "/switch",
            data={"csrf": csrf, "kind": "pause", "tenant": "acme", "turn": "on", "reason": "audit"},
            headers=cookie,
        )
        [switch] = await store.switches()
        assert switch.reason == "audit"
        page = await r.text()
        # Times carry their UTC instant for status.js to show in the browser's zone.
        assert re.search(r'<time datetime="\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00">', page)
        assert "times in your browser's zone" in page
