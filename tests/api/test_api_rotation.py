"""A pool's IP rotation over HTTP: shown with its next date, skipped, triggered, audited."""

from __future__ import annotations

import re

import aiohttp

from admin.status_page import COOKIE
from tests.api.test_api_lists_suppression import error_of
from tests.api.test_status_page_http import _sign_in
from tests.support.admin_api import serve_admin
from tests.unit.test_rotation import IPS, at, settings

DAY = 86400.0


async def test_show_skip_and_trigger_with_roles_and_audit(store):
    now = at(3)
    async with serve_admin(settings(min_share=0.5), store, clock=lambda: now) as server:
        async with server.session("viewer") as viewer, server.session("operator") as op:
            r = await viewer.get("/api/pools/acme/rotation")
            got = await r.json()
            assert r.status == 200 and got["next_at"] is None and got["every_days"] == 10
            assert [i["state"] for i in got["ips"]] == ["warm"] * 4
            assert (await viewer.post("/api/pools/acme/rotation/skip")).status == 403
            got = await (await op.post("/api/pools/acme/rotation/skip")).json()
            assert got["next_at"] == now.timestamp() + 20 * DAY and "skipped" in got["note"]
            got = await (await op.post("/api/pools/acme/rotation/trigger")).json()
            assert got["next_at"] == now.timestamp() + 10 * DAY
            [out] = [i for i in got["ips"] if i["rotated"]]
            assert out["state"] == "retiring" and out["ip"] == IPS[0]  # none sent: the first
            assert await error_of(await viewer.get("/api/pools/nope/rotation")) == (
                404,
                "not_found",
                "pool",
            )
            assert (await op.post("/api/pools/acme/rotation/explode")).status == 404
        # The status page shows the pool's next date and the last round's word.
        async with aiohttp.ClientSession(
            base_url=server.url, cookie_jar=aiohttp.DummyCookieJar()
        ) as http:
            sid, _ = await _sign_in(http, "viewer")
            page = await (await http.get("/", headers={"Cookie": f"{COOKIE}={sid}"})).text()
        line = re.search(r"<p class=\"muted small\" data-rotation>([^<]+)</p>", page)
        assert line is not None and line.group(1).startswith("rotation: next retirement 2026-11-14")
        assert f"retired {IPS[0]}" in line.group(1)
    entries = await store.audit_entries(10)
    assert [e.action for e in entries][:2] == ["rotation.trigger", "rotation.skip"]
