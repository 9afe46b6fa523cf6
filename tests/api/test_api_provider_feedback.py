"""GET /api/provider-feedback over real HTTP, after a real SNDS fetch from a local server."""

from __future__ import annotations

import pytest

from tests.api.test_api_ips import call
from tests.support.admin_api import serve_admin
from tests.unit.test_snds import (  # noqa: F401
    BLOCKED_IP,
    GREEN_IP,
    RED_IP,
    SndsServer,
    microsoft,
    settings,
)

pytestmark = pytest.mark.asyncio


async def test_the_api_shows_the_last_snds_findings(store, microsoft: SndsServer) -> None:  # noqa: F811
    from scheduler.reputation.snds import run_once

    s = settings(microsoft.url)

    async def quiet(alert) -> None:
        return None

    await run_once(s, store, quiet, clock=lambda: 1000.0)
    async with serve_admin(s, store) as server:
        path = "/api/provider-feedback"
        status, body = await call(server, "viewer", "GET", path, path)
        assert status == 200 and body["snds"] and not body["postmaster"]
        got = {(f["target"], f["status"]) for f in body["findings"]}
        assert (RED_IP, "RED") in got and (BLOCKED_IP, "BLOCKED") in got
        status, body = await call(server, "viewer", "GET", path + "?source=postmaster", path)
        assert status == 200 and body["findings"] == []
        status, body = await call(server, "viewer", "GET", path + "?source=nope", path)
        assert status == 400 and "source" in str(body)


async def test_the_status_page_shows_provider_feedback_problems_first(
    store,
    microsoft: SndsServer,  # noqa: F811
) -> None:
    import aiohttp

    from admin.status_page import COOKIE
    from scheduler.reputation.snds import run_once
    from tests.api.test_status_page_http import _sign_in

    s = settings(microsoft.url)

    async def quiet(alert) -> None:
        return None

    await run_once(s, store, quiet, clock=lambda: 1000.0)
    async with (
        serve_admin(s, store) as server,
        aiohttp.ClientSession(base_url=server.url, cookie_jar=aiohttp.DummyCookieJar()) as http,
    ):
        sid, _ = await _sign_in(http, "viewer")
        page = await (await http.get("/", headers={"Cookie": f"{COOKIE}={sid}"})).text()
    assert "<h2>Provider feedback</h2>" in page
    blocked = page.index(f'data-provider="snds:{BLOCKED_IP}"')
    green = page.index(f'data-provider="snds:{GREEN_IP}"')
    assert blocked < green and "BLOCKED" in page[blocked:green]
