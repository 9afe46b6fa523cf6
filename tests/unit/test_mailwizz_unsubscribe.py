"""Unsubscribes and complaints reach MailWizz's API over real HTTP, through outages, once.

MailWizz is ``tests.support.mailwizz`` on loopback; the one-click link is
POSTed to the real public app, the mailto: unsubscribe is sent to the real
inbound SMTP listener, the complaint is an ARF report in the inbox, and the
queue is the store's (SQLite and PostgreSQL).
"""

from __future__ import annotations

import asyncio
import logging
import os
import textwrap
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import aiosmtplib
import pytest
from aiohttp import web

from admin.tracking import make_public_app
from conf import ConfigError, Settings, parse
from gateway.inbound import InboundListener
from policy import links, tokens, unsubscribe
from policy.bus import Bus
from policy.engagement import EngagementRecorder
from policy.feedback import mailwizz as mailwizz_api
from policy.feedback import verp
from policy.store.inbox import Inbox
from scheduler.feedback_service import FeedbackService
from scheduler.notify import API_CONCURRENCY
from tests.support import mailwizz
from tests.support.feedback import arf

SECRET = "verp-secret-0123456789"
TRACKING = "tracking-secret-0123456789"


def settings(folder: Path, api_url: str, list_uid: str | None = None) -> Settings:
    text = f"""
    tenants:
      - name: acme
        pool: p
        trusted_networks: [127.0.0.1/32]
        sender_domains: [acme-mail.com]
        bounce_domain: bounce.acme-mail.com
        tracking: {{base_url: "https://t.acme-mail.com", secrets: ["{TRACKING}"]}}
        unsubscribe:
          headers: replace
          mailwizz: {{api_url: "{api_url}", api_key: "${{MW_API_KEY}}",
                      list_uid: {list_uid or "null"}, timeout: 0.3}}
    pools: {{p: [{{ip: 192.0.2.10, vmta: p1, hostname: mta1.example}}]}}
    feedback: {{verp_secrets: ["{SECRET}"], inbox: "{folder}/inbox"}}
    """
    return parse(textwrap.dedent(text), environ={"MW_API_KEY": mailwizz.API_KEY})


@dataclass
class World:
    mw: mailwizz.MailWizz
    s: Settings
    store: object
    service: FeedbackService
    bus: Bus
    http: aiohttp.ClientSession
    ahead: list[float] = field(default_factory=lambda: [0.0])

    async def send_due(self) -> int:
        """One round of the notification worker."""
        return await self.service.notifier.send_due(self.http)

    def later(self) -> None:
        """Past any backoff (an hour at most)."""
        self.ahead[0] += 3601

    async def pending(self) -> int:
        return await self.store.pending_notifications()


@pytest.fixture
async def world(tmp_path, store, request) -> AsyncIterator[World]:
    """Parametrized indirectly with a fixed ``list_uid``; by default every list."""
    async with mailwizz.running() as mw, aiohttp.ClientSession() as http:
        s = settings(tmp_path, mw.url, getattr(request, "param", None))
        bus = Bus()
        service = FeedbackService(store, lambda: s, bus=bus)
        await asyncio.to_thread(service.inbox.inbox.ensure)
        w = World(mw, s, store, service, bus, http)
        service.notifier.clock = lambda: time.time() + w.ahead[0]
        yield w


async def test_one_click_post_unsubscribes_in_mailwizz_with_the_api_key(world: World):
    world.mw.subscribe("list1", "bob@example.net", "sub1")
    world.mw.subscribe("list2", "Bob@Example.net", "sub2")
    world.mw.subscribe("list3", "bob@example.net", "sub3", status="unsubscribed")
    world.mw.subscribe("list4", "bob@example.net", "sub4", status="blacklisted")
    recorder = EngagementRecorder(world.store, world.bus)
    app = make_public_app(
        links.KeyRing(lambda: world.s.tenants), recorder.add, world.service.unsubscribes.link
    )
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    keys = links.tenant_keys(world.s.tenants)["acme"]
    ref = links.message_ref("camp-1", "<m1@acme-mail.com>")
    token = tokens.issue(keys, "unsubscribe", "acme", ref, "bob@example.net")
    try:
        async with world.http.post(
            f"{base}/t/u/{token}",
            data=b"List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        ) as response:
            assert response.status == 200
    finally:
        await runner.cleanup()
    entry = await world.store.suppression_entry("acme", "bob@example.net")
    assert entry is not None and (entry.reason, entry.source) == ("unsubscribe", "link")
    assert await world.pending() == 1

    assert await world.send_due() == 1
    assert [(c.method, c.path, c.query) for c in world.mw.calls] == [
        (
            "GET",
            "/lists/subscribers/search-by-email-in-all-lists",
            {"EMAIL": "bob@example.net"},
        ),
        ("PUT", "/lists/list1/subscribers/sub1/unsubscribe", {}),
        ("PUT", "/lists/list2/subscribers/sub2/unsubscribe", {}),
    ]
    assert {c.api_key for c in world.mw.calls} == {mailwizz.API_KEY}
    assert world.mw.status("list1", "bob@example.net") == "unsubscribed"
    assert world.mw.status("list4", "bob@example.net") == "blacklisted"  # never weakened
    assert await world.pending() == 0


async def test_an_outage_keeps_the_item_queued_until_mailwizz_is_back_then_sends_it_once(
    world: World,
):
    world.mw.subscribe("list1", "carol@example.net", "sub9")
    await world.service.unsubscribes.link("acme", "carol@example.net", "link")

    async def a_round_fails() -> None:
        assert await world.send_due() == 1
        assert await world.pending() == 1  # queued, never dropped
        assert await world.send_due() == 0  # and not due again before its backoff
        world.later()

    world.mw.fail(2, 500)
    await a_round_fails()
    await a_round_fails()
    world.mw.fail(1, 0)  # no answer within the client's timeout
    await a_round_fails()
    await world.mw.stop()  # connection refused
    await a_round_fails()
    await world.mw.start()  # back on the same port, but:
    world.mw.fail(1, 503, after=1)  # the search answers, the unsubscribe fails
    await a_round_fails()

    assert await world.send_due() == 1
    assert await world.pending() == 0
    assert world.mw.status("list1", "carol@example.net") == "unsubscribed"
    assert len(world.mw.unsubscribes()) == 2  # the failed one, then the one that counted
    world.later()
    calls = len(world.mw.calls)
    assert await world.send_due() == 0 and len(world.mw.calls) == calls  # exactly once


async def test_a_down_mailwizz_is_asked_a_few_times_a_round_not_once_per_item(world: World):
    for i in range(10):
        await world.service.unsubscribes.link("acme", f"reader{i}@example.net", "link")
    world.mw.fail(10, 500)
    assert await world.send_due() == 10
    assert 1 <= len(world.mw.calls) <= API_CONCURRENCY
    assert await world.pending() == 10


@pytest.mark.parametrize("world", [None, "list1"], indirect=True)
async def test_a_subscriber_mailwizz_does_not_have_is_not_retried_forever(
    world: World, caplog: pytest.LogCaptureFixture
):
    world.mw.subscribe("list1", "someone-else@example.net", "sub1")
    await world.service.unsubscribes.link("acme", "nobody@example.net", "link")
    with caplog.at_level(logging.WARNING, logger="sluice.notify"):
        assert await world.send_due() == 1
    assert await world.pending() == 0
    assert len(world.mw.calls) == 1 and world.mw.unsubscribes() == []
    assert any(
        "nobody@example.net" in r.getMessage() and "not retried" in r.getMessage()
        for r in caplog.records
    )
    world.later()
    assert await world.send_due() == 0 and len(world.mw.calls) == 1


async def test_mailto_unsubscribe_through_the_inbound_listener_is_recorded_once(world: World):
    world.mw.subscribe("list1", "dave@example.net", "sub5")
    keys = links.tenant_keys(world.s.tenants)["acme"]
    local = unsubscribe.local_part(keys, "acme", "camp-1", "Dave@Example.net")
    heard = world.bus.subscribe("unsubscribe")
    listener = InboundListener(lambda: world.s, Inbox(world.s.feedback.inbox))
    server = await listener.start("127.0.0.1", 0)
    try:
        client = aiosmtplib.SMTP(
            hostname="127.0.0.1", port=server.sockets[0].getsockname()[1], start_tls=False
        )
        async with client:
            await client.sendmail(
                "dave@example.net",
                [f"{local}@bounce.acme-mail.com"],
                b"From: dave@example.net\r\nSubject: unsubscribe\r\n\r\nplease\r\n",
            )
    finally:
        await listener.close()

    inbox = Path(world.s.feedback.inbox)
    assert await world.service.inbox.process_pending() == 1
    # The inbox is at-least-once: processed again (a crash before the file moved on).
    (name,) = os.listdir(inbox / "done")
    os.rename(inbox / "done" / name, inbox / "new" / name)
    assert await world.service.inbox.process_pending() == 1

    (row,) = await world.store.recent_engagement()
    assert (row["kind"], row["tenant"], row["job"], row["recipient"]) == (
        "unsubscribe",
        "acme",
        "camp-1",
        "Dave@Example.net",
    )
    assert (row["reason"], row["classification"], row["link_index"]) == ("mailto", "human", 1)
    assert heard.queue.qsize() == 1
    entry = await world.store.suppression_entry("acme", "dave@example.net")
    assert entry is not None and (entry.reason, entry.source) == ("unsubscribe", "mailto")

    assert await world.pending() == 1
    assert await world.send_due() == 1
    assert [c.path for c in world.mw.unsubscribes()] == [
        "/lists/list1/subscribers/sub5/unsubscribe"
    ]
    assert world.mw.status("list1", "dave@example.net") == "unsubscribed"


@pytest.mark.parametrize("world", ["list1"], indirect=True)
async def test_a_complaint_unsubscribes_the_quoted_subscriber_in_mailwizz(world: World):
    world.mw.subscribe("list1", "erin@example.net", "ab12cd")
    origin = verp.Origin("acme", "<m5@acme-mail.com>", "erin@example.net", "192.0.2.10", "camp-5")
    to = verp.address(verp.keys_for((SECRET,)), origin, "bounce.acme-mail.com")
    raw = arf("fbl@bounce.acme-mail.com", "erin@example.net", to).replace(
        b"Subject: Hello\r\n", b"Subject: Hello\r\nX-Mw-Subscriber-Uid: ab12cd\r\n"
    )
    await asyncio.to_thread(world.service.inbox.inbox.write, {"rcpt_tos": [to]}, raw)
    assert await world.service.inbox.process_pending() == 1
    entry = await world.store.suppression_entry("acme", "erin@example.net")
    assert entry is not None and entry.reason == "complaint"

    assert await world.pending() == 1
    assert await world.send_due() == 1
    # The list is fixed and the report quoted the subscriber: no search needed.
    assert [(c.method, c.path) for c in world.mw.calls] == [
        ("PUT", "/lists/list1/subscribers/ab12cd/unsubscribe")
    ]
    assert world.mw.status("list1", "erin@example.net") == "unsubscribed"
    assert await world.pending() == 0


def test_search_answers_are_read_defensively():
    all_lists = {
        "status": "success",
        "data": {
            "records": [
                {"subscriber_uid": "aa11", "status": "confirmed", "list": {"list_uid": "l1"}},
                {"subscriber_uid": "bb22", "status": "blacklisted", "list": {"list_uid": "l2"}},
                {"subscriber_uid": "../x", "status": "confirmed", "list": {"list_uid": "l3"}},
                {"subscriber_uid": "cc33", "status": "unconfirmed", "list": "l4"},
            ]
        },
    }
    assert mailwizz_api.found(all_lists, None) == [("l1", "aa11")]
    one = {"status": "success", "data": {"subscriber_uid": "dd44", "status": "confirmed"}}
    assert mailwizz_api.found(one, "l9") == [("l9", "dd44")]
    for bad in (None, "<html>", {"status": "error"}, {"status": "success", "data": {}}):
        with pytest.raises(mailwizz_api.BadAnswer):
            mailwizz_api.found(bad, None)
    assert [mailwizz_api.verdict(s) for s in (200, 404, 422, 401, 403, 429, 500)] == [
        "done",
        "gone",
        "gone",
        "retry",
        "retry",
        "retry",
        "retry",
    ]


def test_mailwizz_settings_errors_name_the_key(tmp_path):
    with pytest.raises(ConfigError) as err:
        settings(tmp_path, "mw.example.com/api", "Not-A-Uid")
    problems = "\n".join(err.value.problems)
    assert "tenants[0].unsubscribe.mailwizz.api_url" in problems
    assert "tenants[0].unsubscribe.mailwizz.list_uid" in problems
    good = settings(tmp_path, "https://mw.example.com/api")
    api = good.tenants[0].unsubscribe.mailwizz
    assert api.api_key == mailwizz.API_KEY and mailwizz.API_KEY not in repr(api)
