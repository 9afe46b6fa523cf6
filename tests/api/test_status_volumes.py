"""The status page's volumes per tenant and provider group, and PowerMTA's reachability."""

from __future__ import annotations

import re
import time

import aiohttp

from admin.status_page import COOKIE
from admin.status_volumes import DownstreamLine, volumes
from policy.events import Event
from tests.api.test_status_page_http import _sign_in, settings
from tests.support.admin_api import serve_admin

IP = "192.0.2.10"


def ev(kind: str, to: str, provider: str, at: float, tenant: str = "acme") -> Event:
    return Event(kind, tenant, "127.0.0.1", "n@a.example", (to,), ip=IP, provider=provider, at=at)


async def record_traffic(store, now: float) -> None:
    await store.record(
        [
            ev("relayed", "a@gmail.com", "google", now - 60),
            ev("relayed", "b@icloud.com", "apple", now - 60),
            ev("possible_duplicate", "c@orange.fr", "orange", now - 60),
            ev("relayed", "d@comcast.net", "comcast", now - 7200),  # in the day, not the hour
            ev("relayed", "e@web.de", "gmx_webde", now - 100_000),  # older than a day
            ev("deferred", "f@gmx.de", "gmx_webde", now - 30),
            ev("refused", "g@x.example", "other", now - 30),
            ev("relayed", "h@gmail.com", "google", now - 30, tenant="zeta"),
        ]
    )


async def test_volumes_count_every_provider_group_by_window(store):
    now = time.time()
    await record_traffic(store, now)
    rows = {(v.tenant, v.window): v for v in await volumes(store, ["acme", "idle"], now)}
    hour, day = rows[("acme", "last hour")], rows[("acme", "last 24 h")]
    assert hour.providers == {
        "google": 1, "microsoft": 0, "yahoo": 0, "apple": 1, "gmx_webde": 0,
        "orange": 1, "comcast": 0, "other": 0,
    }  # fmt: skip
    assert day.providers["comcast"] == 1 and day.providers["gmx_webde"] == 0
    assert (hour.outcomes["relayed"], hour.outcomes["deferred"], hour.outcomes["refused"]) == (
        3,
        1,
        1,
    )
    assert round(hour.deferral_percent) == 25
    assert rows[("idle", "last hour")].outcomes["relayed"] == 0  # a quiet tenant still shows
    assert rows[("zeta", "last hour")].providers["google"] == 1  # and one not configured


async def test_the_page_shows_volumes_and_powermta_down(store):
    await record_traffic(store, time.time())
    async with serve_admin(settings(), store) as server:
        server.ctx.downstream = lambda: DownstreamLine(
            "127.0.0.1:25", False, 5, 42.0, "connection refused"
        )
        async with aiohttp.ClientSession(
            base_url=server.url, cookie_jar=aiohttp.DummyCookieJar()
        ) as http:
            sid, _ = await _sign_in(http, "viewer")
            page = await (await http.get("/", headers={"Cookie": f"{COOKIE}={sid}"})).text()
    assert 'data-downstream="down"' in page and "connection refused" in page
    row = re.search(r'data-volume="acme:last hour">(.*?)</tr>', page, re.S)
    assert row is not None
    assert re.search(r'data-group="apple">1<', row.group(1))
    assert re.search(r'data-group="orange">1<', row.group(1))
    assert re.search(r'data-outcome="deferred">1<', row.group(1))
