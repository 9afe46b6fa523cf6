"""The status page's MailWizz quota sync line: the last round, per server its quotas and why."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import aiohttp

import conf
from admin.status_page import COOKIE
from policy.quota.mailwizz import Capacity, ClockCheck, Decision
from scheduler.mailwizz_sync import RoundReport, ServerReport
from tests.support.admin_api import TOKENS, serve_admin

NOW = datetime(2026, 12, 4, 15, 0, tzinfo=UTC)
SETTINGS = """
tenants:
  - {name: acme, pool: acme, trusted_networks: [127.0.0.1/32], sender_domains: [a.example],
     timezone: Europe/Paris}
pools:
  acme: [{ip: 192.0.2.10, vmta: acme-1, hostname: h1, daily_limit: 500}]
mailwizz:
  database: "mysql://sync@127.0.0.1/mailwizz"
  servers:
    - {server_id: 3, tenant: acme}
    - {server_id: 4, tenant: acme}
    - {server_id: 9, tenant: acme}
  interval: 300
"""


def report(at: datetime) -> RoundReport:
    cap = Capacity("acme", 20, 485, ("192.0.2.10",))
    none = Capacity("acme", 0, 0, ("192.0.2.10",), stopped="tenant acme pause switch")
    return RoundReport(
        at,
        (ClockCheck(datetime(2026, 12, 4, 15, 0), at, "acme", "Europe/Paris"),),
        (
            ServerReport(
                3, "acme", cap, Decision(3, True, True, "active", 31, 497, "capacity"), True
            ),
            ServerReport(
                4, "acme", none, Decision(4, True, True, "disabled", 1, 1, "paused"), True
            ),
            ServerReport(9, "acme", cap, None, False, "MailWizz has no delivery server 9"),
        ),
    )


async def page(server) -> str:
    async with aiohttp.ClientSession(base_url=server.url) as http:
        r = await http.post("/login", data={"token": TOKENS["viewer"]}, allow_redirects=False)
        sid = r.cookies[COOKIE].value
        return await (await http.get("/", headers={"Cookie": f"{COOKIE}={sid}"})).text()


async def test_the_page_shows_the_last_round_per_server(store):
    settings = conf.parse(SETTINGS, environ={})
    async with serve_admin(settings, store, clock=lambda: NOW) as server:
        server.ctx.mailwizz = lambda: None
        text = await page(server)
        assert "MailWizz quota sync" in text and "no round has worked yet" in text

        server.ctx.mailwizz = lambda: report(NOW - timedelta(seconds=30))
        text = await page(server)
        assert "last round 04 Dec 14:59" in text and 'badge full">late' not in text
        row = text.split('data-mailwizz-server="3"')[1].split("</tr>")[0]
        assert all(x in row for x in ("active", "31", "497", "capacity", "written"))
        row = text.split('data-mailwizz-server="4"')[1].split("</tr>")[0]
        assert "disabled" in row and "paused" in row
        row = text.split('data-mailwizz-server="9"')[1].split("</tr>")[0]
        assert "missing" in row and "no delivery server 9" in row
        # MailWizz's day is UTC, the tenant's Paris: the round's note says so.
        assert "not tenant acme&#39;s quota day (Europe/Paris" in text

        server.ctx.mailwizz = lambda: report(NOW - timedelta(seconds=900))
        assert '<span class="badge full">late</span>' in await page(server)


async def test_no_line_without_the_sync(store):
    settings = conf.parse(SETTINGS.split("mailwizz:")[0], environ={})
    async with serve_admin(settings, store, clock=lambda: NOW) as server:
        assert "MailWizz quota sync" not in await page(server)
