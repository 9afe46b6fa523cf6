"""Microsoft SNDS: the documented CSV files served by a local aiohttp server, holds and alerts.

The holds land in the real store (SQLite and PostgreSQL); the alerts go to the
local webhook receiver of test_reputation_alerts.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web

import conf
from policy.reputation import snds
from scheduler.alerts import Alerter
from scheduler.reputation.snds import run_once
from tests.unit.test_reputation_alerts import Receiver, with_alerts

RED_IP, GREEN_IP, BLOCKED_IP = "192.0.2.10", "192.0.2.11", "198.51.100.7"
KEY = "snds-key-123"

# data.aspx: no header, 14 columns (IP .. comments).
DATA = (
    f"{RED_IP},12/3/2026 8:00 AM,12/3/2026 11:00 PM,1200,1180,1190,RED,2.1%,"
    "12/3/2026 9:00 AM,12/3/2026 9:05 PM,4,mta.example,bounce@mta.example,\r\n"
    f"{GREEN_IP},12/3/2026 8:00 AM,12/3/2026 11:00 PM,900,900,900,GREEN,< 0.1%,,,0,"
    "mta.example,bounce@mta.example,\r\n"
    "203.0.113.1,12/3/2026 8:00 AM,12/3/2026 11:00 PM,5,5,5,RED,< 0.1%,,,0,x,y,not ours\r\n"
)
STATUS = (
    "198.51.100.0,198.51.100.15,Yes,"
    "Blocked due to user complaints or other evidence of spamming\r\n"
    "192.0.2.0,192.0.2.255,No,\r\n"
)


class SndsServer:
    def __init__(self) -> None:
        self.data, self.status, self.code = DATA, STATUS, 200
        self.keys: list[str] = []
        self.url = ""

    async def serve_data(self, request: web.Request) -> web.Response:
        self.keys.append(request.query.get("key", ""))
        return web.Response(text=self.data, status=self.code, content_type="text/csv")

    async def serve_status(self, request: web.Request) -> web.Response:
        return web.Response(text=self.status, status=self.code, content_type="text/csv")


@pytest.fixture
async def microsoft() -> AsyncIterator[SndsServer]:
    srv = SndsServer()
    app = web.Application()
    app.router.add_get("/snds/data.aspx", srv.serve_data)
    app.router.add_get("/snds/ipStatus.aspx", srv.serve_status)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    srv.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/snds"  # type: ignore[union-attr]
    yield srv
    await runner.cleanup()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """The webhook and Telegram receiver of test_reputation_alerts, on its own port."""
    r = Receiver()
    app = web.Application()
    app.router.add_post("/hook", r.hook)
    app.router.add_post("/bot{token}/sendMessage", r.bot)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    r.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
    yield r
    await runner.cleanup()


def settings(url: str):
    pool = "\n".join(
        f"    - {{ip: {ip}, vmta: v{i}, hostname: h{i}.example}}"
        for i, ip in enumerate((RED_IP, GREEN_IP, BLOCKED_IP))
    )
    return conf.parse(
        f"""
tenants:
  - {{name: acme, pool: acme, trusted_networks: [127.0.0.1/32], sender_domains: [acme.example]}}
pools:
  acme:
{pool}
providers:
  snds:
    key: "${{SNDS_KEY}}"
    data_url: {url}/data.aspx
    status_url: {url}/ipStatus.aspx
""",
        environ={"SNDS_KEY": KEY},
    )


def test_parse_data_reads_the_documented_columns() -> None:
    days = snds.parse_data(DATA)
    assert [(d.ip, d.filter, d.trap_hits) for d in days] == [
        (RED_IP, "RED", 4),
        (GREEN_IP, "GREEN", 0),
        ("203.0.113.1", "RED", 0),
    ]
    assert days[0].complaint_rate == "2.1%" and days[1].complaint_rate == "< 0.1%"
    assert days[0].recipients == 1190 and days[0].helo == "mta.example"
    assert days[2].comments == "not ours"


def test_parse_rejects_bad_lines_by_number() -> None:
    with pytest.raises(snds.SndsFormatError, match="line 2: filter result 'PURPLE'"):
        snds.parse_data(
            DATA.splitlines()[0] + "\n" + DATA.splitlines()[1].replace("GREEN", "PURPLE")
        )
    with pytest.raises(snds.SndsFormatError, match="line 1: 3 columns"):
        snds.parse_data("1.2.3.4,a,b\n")
    with pytest.raises(snds.SndsFormatError, match="not an IP address"):
        snds.parse_status("nope,1.2.3.4,Yes,x\n")


def test_blocked_ranges_cover_only_yes_rows() -> None:
    ranges = snds.parse_status(STATUS)
    assert len(ranges) == 1
    assert snds.blocked_ips(ranges, [BLOCKED_IP, RED_IP, "2001:db8::1"]) == {
        BLOCKED_IP: "Blocked due to user complaints or other evidence of spamming"
    }


async def test_fetch_holds_red_ips_and_alerts_then_resolves(
    microsoft: SndsServer,
    receiver: Receiver,
    store,
) -> None:
    s = with_alerts(settings(microsoft.url), receiver.url)
    alert = Alerter(lambda: s)
    report = await run_once(s, store, alert, clock=lambda: 1_000_000.0)
    assert report.error is None and microsoft.keys == [KEY]
    assert report.held == [RED_IP] and list(report.blocked) == [BLOCKED_IP]
    held = await store.measures(1_000_000.0)
    assert [(m.ip, m.kind) for m in held] == [(RED_IP, "hold")]
    stored = {(f.source, f.target, f.status) for f in await store.provider_feedback()}
    assert stored == {
        ("snds", RED_IP, "RED"),
        ("snds", GREEN_IP, "GREEN"),
        ("snds", BLOCKED_IP, "BLOCKED"),
    }
    assert sorted(e for e in receiver.events() if e[1] == "firing") == [
        (f"snds-blocked:{BLOCKED_IP}", "firing"),
        (f"snds-red:{RED_IP}", "firing"),
    ]
    # The next day all is green and nothing is blocked: resolved messages, no new hold.
    microsoft.data = DATA.replace(",RED,", ",GREEN,")
    microsoft.status = ""
    receiver.webhook.clear()
    report = await run_once(s, store, alert, clock=lambda: 1_090_000.0)
    assert report.held == [] and report.blocked == {}
    stored = {(f.target, f.status) for f in await store.provider_feedback()}
    assert stored == {(RED_IP, "GREEN"), (GREEN_IP, "GREEN"), (BLOCKED_IP, "NO DATA")}
    assert sorted(receiver.events()) == [
        (f"snds-blocked:{BLOCKED_IP}", "resolved"),
        (f"snds-red:{RED_IP}", "resolved"),
    ]


async def test_an_outage_changes_nothing(microsoft: SndsServer, receiver: Receiver, store) -> None:
    s = with_alerts(settings(microsoft.url), receiver.url)
    microsoft.code = 503
    report = await run_once(s, store, Alerter(lambda: s), clock=lambda: 1_000_000.0)
    assert report.error is not None and "HTTP 503" in report.error
    assert await store.measures(1_000_000.0) == [] and receiver.webhook == []


def test_the_key_is_required() -> None:
    with pytest.raises(conf.ConfigError, match=r"providers\.snds\.key"):
        conf.parse("tenants: []\npools: {}\nproviders:\n  snds:\n    key: ''\n", environ={})
