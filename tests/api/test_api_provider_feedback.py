"""GET /api/provider-feedback over real HTTP, after a real SNDS fetch from a local server."""

from __future__ import annotations

import pytest

from tests.api.test_api_ips import call
from tests.support.admin_api import serve_admin
from tests.unit.test_snds import BLOCKED_IP, RED_IP, SndsServer, microsoft, settings  # noqa: F401

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
