"""MailWizz and outbound webhooks over real HTTP on loopback: batched, signed, queued in outages."""

import asyncio
import json
import os
import textwrap
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from conf import parse
from policy.feedback import notify, verp
from policy.store.sqlite import SqliteStore
from scheduler.feedback_service import FeedbackService
from tests.support.feedback import arf, dsn

SECRET = "verp-secret-0123456789"
HOOK_SECRET = "hook-secret-0123456789"


class Receiver:
    """MailWizz's /dswh/pmta and a tenant's webhook, failing while ``down``."""

    def __init__(self) -> None:
        self.down = True
        self.requests: list[tuple[str, bytes, dict]] = []

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.requests.append((request.path, body, dict(request.headers)))
        return web.Response(status=503 if self.down else 200, text="ok")


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, int]]:
    r = Receiver()
    app = web.Application()
    app.router.add_post("/{tail:.*}", r.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    yield r, port
    await runner.cleanup()


async def test_bounce_and_complaint_reach_mailwizz_and_the_webhook_after_an_outage(
    tmp_path, receiver
):
    r, port = receiver
    text = f"""
    tenants:
      - name: acme
        pool: p
        trusted_networks: [127.0.0.1/32]
        sender_domains: [acme-mail.com]
        mailwizz_dswh: "http://127.0.0.1:{port}/index.php/dswh/pmta"
        webhooks: [{{url: "http://127.0.0.1:{port}/hook", secret: "{HOOK_SECRET}",
                    events: [bounced, complained]}}]
    pools: {{p: [{{ip: 192.0.2.10, vmta: p1, hostname: mta1.example}}]}}
    feedback: {{verp_secrets: ["{SECRET}"], inbox: "{tmp_path}/inbox"}}
    """
    settings = parse(textwrap.dedent(text), environ=os.environ)
    store = SqliteStore(str(tmp_path / "s.db"))
    await store.open()
    service = FeedbackService(store, lambda: settings)
    await asyncio.to_thread(service.inbox.inbox.ensure)
    keys = verp.keys_for((SECRET,))
    try:
        for rcpt, maker in (("bob@example.net", dsn), ("carol@example.net", arf)):
            origin = verp.Origin("acme", f"<{rcpt}>", rcpt, "192.0.2.10", "camp-7")
            to = verp.address(keys, origin, "bounce.acme-mail.com")
            quoted = f"To: {rcpt}\r\nMessage-ID: <{rcpt}>\r\n"
            raw = maker(to, rcpt, original=quoted) if maker is dsn else maker("fbl@b", rcpt, to)
            await asyncio.to_thread(service.inbox.inbox.write, {"rcpt_tos": [to]}, raw)
        await service.inbox.process_pending()
        assert await store.pending_notifications() == 4  # 2 items x (MailWizz, webhook)

        async with aiohttp.ClientSession() as http:
            assert await service.notifier.send_due(http) == 4
            assert len(r.requests) == 2  # one batch per receiver
            assert await store.pending_notifications() == 4  # the outage queues, never drops
            assert await service.notifier.send_due(http) == 0  # not due before the backoff
            r.down = False
            service.notifier.clock = lambda: time.time() + 3600
            assert await service.notifier.send_due(http) == 4
        assert await store.pending_notifications() == 0

        by_path = {path: (body, headers) for path, body, headers in r.requests[2:]}
        records = json.loads(by_path["/index.php/dswh/pmta"][0])
        assert [(x["type"], x["rcpt"]) for x in records] == [
            ("b", "bob@example.net"),
            ("f", "carol@example.net"),
        ]
        assert records[0]["bounceCat"] == "bad-mailbox"
        assert records[0]["header_Message-Id"] == "<bob@example.net>"
        body, headers = by_path["/hook"]
        signature = headers["X-Sluice-Signature"]
        assert notify.verify(HOOK_SECRET, body, signature, time.time() + 3600)
        assert not notify.verify(HOOK_SECRET, body + b" ", signature, time.time() + 3600)
        assert not notify.verify(HOOK_SECRET, body, signature, time.time())  # too old/new
        events = json.loads(body)["events"]
        assert [(e["type"], e["recipient"], e["suppressed"]) for e in events] == [
            ("bounced", "bob@example.net", True),
            ("complained", "carol@example.net", True),
        ]
    finally:
        await store.close()


def test_backoff_doubles_to_an_hour():
    import random

    rand = random.Random(1)
    delays = [notify.backoff(n, rand) for n in range(15)]
    assert 2.5 <= delays[0] <= 5 and 1800 <= delays[-1] <= 3600
    assert all(d <= 3600 for d in delays)
