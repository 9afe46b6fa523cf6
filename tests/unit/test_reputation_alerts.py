"""Listing, delisting and canary alerts: to a signed webhook and a Telegram bot API, over HTTP.

Both receivers are local aiohttp servers; the DNS side is the loopback server.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from conf.schema.alerts import AlertSettings
from policy.alerts import Alert, AlertState, should_send
from policy.feedback import notify
from scheduler.alerts import Alerter
from scheduler.reputation.cycle import run_cycle
from tests.support import dnsbl_zones as z
from tests.support.dns_server import DnsServer
from tests.unit.test_reputation_poll import settings

SECRET = "alert-secret-0123456789"
TOKEN = "123:abc"


class Receiver:
    def __init__(self) -> None:
        self.webhook: list[tuple[bytes, str]] = []
        self.telegram: list[dict] = []
        self.url = ""

    async def hook(self, request: web.Request) -> web.Response:
        self.webhook.append((await request.read(), request.headers["X-Sluice-Signature"]))
        return web.json_response({})

    async def bot(self, request: web.Request) -> web.Response:
        assert request.match_info["token"] == TOKEN
        self.telegram.append(await request.json())
        return web.json_response({"ok": True})

    def events(self) -> list[tuple[str, str]]:
        return [(b["alert"], b["status"]) for b in map(json.loads, (w[0] for w in self.webhook))]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = Receiver()
    app = web.Application()
    app.router.add_post("/hook", r.hook)
    app.router.add_post("/bot{token}/sendMessage", r.bot)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    r.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"
    yield r
    await runner.cleanup()


def with_alerts(s, url: str):
    cfg = AlertSettings.model_validate(
        {
            "webhook": {"url": f"{url}/hook", "secret": SECRET},
            "telegram": {"bot_token": TOKEN, "chat_id": "-1001", "api_url": url},
        }
    )
    return s.model_copy(update={"alerts": cfg})


@pytest.mark.asyncio
async def test_listing_delisting_and_a_bad_list_are_alerted_once_each(store, receiver):
    async with DnsServer(a=z.a_records(), world=z.world()) as dns:
        s = with_alerts(settings(dns.port, "zen.test", "world.test"), receiver.url)
        alert = Alerter(lambda: s, clock=lambda: 5000.0)
        for at in (1000.0, 2000.0, 3000.0):
            await run_cycle(s, store, clock=lambda at=at: at, alert=alert)
        del dns.a[f"{z.rev(z.LISTED_IP)}.zen.test"]
        dns.world.clear()  # the world list fixed: its canary passes again
        for at in (4000.0, 5000.0):
            await run_cycle(s, store, clock=lambda at=at: at, alert=alert)
    listed = f"dnsbl:{z.LISTED_IP}:zen.test"
    assert receiver.events() == [
        ("dnsbl-canary:world.test", "firing"),  # once, though it failed three cycles
        (listed, "firing"),
        # world.test: its test points unanswered now (NXDOMAIN), so still disabled.
        (listed, "resolved"),
    ]
    for body, signature in receiver.webhook:
        assert notify.verify(SECRET, body, signature, now=5000.0)
    texts = [m["text"] for m in receiver.telegram]
    assert {m["chat_id"] for m in receiver.telegram} == {"-1001"}
    assert f"[Sluice FIRING] {z.LISTED_IP} listed on zen.test" in texts[1]
    assert "the IP was quarantined" in texts[1]
    assert "the IP was restored" in texts[2] and texts[2].startswith("[Sluice RESOLVED]")


@pytest.mark.asyncio
async def test_a_receiver_that_is_down_does_not_fail_the_cycle(store):
    async with DnsServer(a=z.a_records(), world=z.world()) as dns:
        s = with_alerts(settings(dns.port, "world.test"), "http://127.0.0.1:9")
        alert = Alerter(lambda: s)
        report = await run_cycle(s, store, alert=alert)
    assert report.canaries["world.test"] and alert.failures == 2


def test_alerts_are_deduplicated_repeated_and_rate_limited():
    state = AlertState()
    on = Alert("k", True, "t", "x", 0)
    assert should_send(on, state, 0, repeat=100, max_per_minute=3)
    assert not should_send(on, state, 50, repeat=100, max_per_minute=3)
    assert should_send(on, state, 150, repeat=100, max_per_minute=3)  # still going on
    off = Alert("k", False, "t", "x", 0)
    assert should_send(off, state, 160, repeat=100, max_per_minute=3)
    assert not should_send(off, state, 170, repeat=100, max_per_minute=3)  # nothing to resolve
    assert should_send(Alert("j", False, "t", "x", 0, sure=True), state, 171, 100, 3)
    assert not should_send(Alert("m", True, "t", "x", 0), state, 172, 100, 3)  # 4th in a minute
    assert should_send(Alert("m", True, "t", "x", 0), state, 240, 100, 3)  # a minute on
