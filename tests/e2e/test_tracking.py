"""Tracking end to end: SMTP in, rewritten links out, HTTP back in, events and suppression.

The gateway relays to the sink over loopback; the links are taken from what
the sink received and followed with an HTTP client against the public
listener, over loopback too. The public app's clock runs an hour ahead
unless a test says otherwise, so the "too soon after delivery" rule does
not label every click of a test that runs in milliseconds.
"""

from __future__ import annotations

import time
import urllib.parse
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import aiosmtplib
import dkim as dkimpy
import pytest
from aiohttp import web

from admin.tracking import GIF, make_public_app
from policy import links
from policy.bus import Bus, Subscription
from policy.engagement import EngagementRecorder
from policy.suppression import Suppression
from policy.unsubscribe import read_local_part
from tests.support import campaign as c
from tests.support.forge import flipped, recipient_swapped, truncated
from tests.support.harness import PASSWORD, Gateway, dns_for, send, start_gateway_from
from tests.support.sink import Sink
from tests.support.wait import code_is, until

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
HOUR = 3600.0


@dataclass
class Reply:
    status: int
    headers: Mapping[str, str]
    body: bytes


@dataclass
class World:
    gw: Gateway
    sink: Sink
    base: str
    engagement: EngagementRecorder
    events: Subscription
    http: aiohttp.ClientSession
    ahead: dict[str, float]  # seconds the public app's clock runs ahead

    async def relay(self, to: str, data: bytes | None = None) -> bytes:
        code, reply = await send(self.gw.port, to=to, data=data or c.campaign(to))
        assert code == 250, reply
        return self.sink.by_recipient(to)[-1].data

    async def get(self, url: str, **headers: str) -> Reply:
        headers.setdefault("User-Agent", CHROME)
        async with self.http.get(url, headers=headers, allow_redirects=False) as response:
            return Reply(response.status, response.headers, await response.read())

    async def recorded(self) -> list[dict]:
        await self.engagement.flush(everything=True)
        return list(reversed(await self.gw.store.recent_engagement(limit=100)))


async def start_public(holder: dict, ahead: dict[str, float]) -> tuple[web.AppRunner, str]:
    """The public app wired as the daemon wires it, on a free loopback port."""

    async def unsubscribe(tenant: str, address: str, source: str) -> None:
        entry = Suppression(tenant=tenant, address=address, reason="unsubscribe", source=source)
        await holder["gw"].store.suppress([entry])

    app = make_public_app(
        links.KeyRing(lambda: holder["gw"].rt.settings.tenants),
        lambda event: holder["engagement"].add(event),
        unsubscribe,
        clock=lambda: time.time() + ahead["s"],
    )
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


@pytest.fixture
async def world(tmp_path: Path, sink: Sink) -> AsyncIterator[World]:
    holder: dict = {}
    ahead = {"s": HOUR}
    runner, base = await start_public(holder, ahead)
    gw = await start_gateway_from(tmp_path, c.tracking_config(tmp_path, sink.port, base))
    bus = Bus()
    holder.update(gw=gw, engagement=EngagementRecorder(gw.store, bus))
    async with aiohttp.ClientSession() as http:
        yield World(gw, sink, base, holder["engagement"], bus.subscribe(), http, ahead)
    await runner.cleanup()
    await gw.close()


def dkim_verifies(raw: bytes, records: dict[str, str]) -> bool:
    verifier = dkimpy.DKIM(raw)
    lookup = dns_for(records)
    return verifier.verify(idx=0, dnsfunc=lookup) and verifier.verify(idx=1, dnsfunc=lookup)


async def test_clicks_redirect_the_pixel_answers_and_events_are_recorded(world: World):
    raw = await world.relay("jane@example.net")
    assert dkim_verifies(raw, world.gw.records)
    tracked = c.tracked_links(raw, world.base)
    assert len(tracked) == len(c.LINKS)
    html = c.html_of(raw)
    # Left direct: the excluded account page, the sender's unsubscribe link, mailto.
    for url in (c.EXCLUDED, c.SENDER_UNSUBSCRIBE, "mailto:help@acme-mail.com"):
        assert f'href="{url}"' in html
    assert "café, crème" in html  # quoted-printable UTF-8 survived the round trip

    for i, (link, original) in enumerate(zip(tracked, c.LINKS, strict=True)):
        world.ahead["s"] = HOUR + 10 * i  # a reader, one link at a time
        response = await world.get(link)
        assert response.status == 302 and response.headers["Location"] == original
        assert "no-store" in response.headers["Cache-Control"]
    for _ in range(2):
        world.ahead["s"] += 60
        response = await world.get(c.pixel(raw, world.base))
        assert response.status == 200 and response.headers["Content-Type"] == "image/gif"
        assert response.body == GIF and "no-cache" in response.headers["Cache-Control"]

    rows = await world.recorded()
    assert [(r["kind"], r["link_index"], r["url"]) for r in rows] == [
        ("click", 0, c.LINKS[0]),
        ("click", 1, c.LINKS[1]),
        ("click", 2, c.LINKS[2]),
        ("open", 0, ""),
        ("open", 0, ""),
    ]
    message_id = c.parsed(raw)["Message-ID"]
    for row in rows:
        assert (row["tenant"], row["job"], row["message_id"]) == ("acme", c.CAMPAIGN, message_id)
        assert (row["recipient"], row["ip"], row["user_agent"]) == (
            "jane@example.net",
            "127.0.0.1",
            CHROME,
        )
        assert row["classification"] == "human" and row["at"] > row["sent_at"] + HOUR - 5
    assert [bool(r["first_open"]) for r in rows] == [False, False, False, True, False]
    published = [world.events.queue.get_nowait() for _ in range(5)]
    assert [(e.kind, e.first_open) for e in published][-2:] == [("open", True), ("open", False)]


async def test_machines_are_labelled_and_still_counted(world: World):
    raw = await world.relay("max@example.net")
    tracked = c.tracked_links(raw, world.base)
    world.ahead["s"] = 0  # seconds after delivery: a link scanner at the receiving gateway
    assert (await world.get(tracked[0])).status == 302
    world.ahead["s"] = HOUR
    for link in tracked:  # every link at once
        assert (await world.get(link)).status == 302
    assert (
        await world.get(c.pixel(raw, world.base), **{"User-Agent": "Mozilla/5.0"})
    ).status == 200
    assert (await world.get(tracked[1], **{"User-Agent": "python-requests/2.32"})).status == 302
    rows = await world.recorded()
    assert [(r["kind"], r["classification"], r["reason"]) for r in rows] == [
        ("click", "machine", "too_soon"),
        ("click", "machine", "burst"),
        ("click", "machine", "burst"),
        ("click", "machine", "burst"),
        ("open", "machine", "apple_mpp"),
        ("click", "machine", "bot_agent"),
    ]
    assert rows[4]["first_open"]  # the first machine open; a later human one is first too


async def test_forged_truncated_and_respliced_tokens_are_refused(world: World):
    raw = await world.relay("alice@example.net")
    link = c.tracked_links(raw, world.base)[0]
    token = link.rsplit("/", 1)[1]
    ref = links.message_ref(c.CAMPAIGN, c.parsed(raw)["Message-ID"])
    spliced = recipient_swapped(token, "acme", ref, "alice@example.net", "carol@example.net")
    unsubscribe_url, _ = c.list_unsubscribe(raw)
    unsubscribe_token = unsubscribe_url.rsplit("/", 1)[1]
    refused = [
        f"{world.base}/t/c/{flipped(token)}",
        f"{world.base}/t/c/{flipped(token, 40)}",
        f"{world.base}/t/c/{truncated(token)}",
        f"{world.base}/t/c/{spliced}",
        f"{world.base}/t/c/{unsubscribe_token}",  # a token of another kind
        f"{world.base}/t/o/{token}.gif",
        f"{world.base}/t/u/{token}",
        f"{world.base}/t/c/not-a-token",
    ]
    for url in refused:
        response = await world.get(url)
        assert response.status == 404, url
        assert "Location" not in response.headers
    swapped = recipient_swapped(
        unsubscribe_token, "acme", ref, "alice@example.net", "carol@example.net"
    )
    async with world.http.post(
        f"{world.base}/t/u/{swapped}", data={"List-Unsubscribe": "One-Click"}
    ) as response:
        assert response.status == 404
    assert await world.gw.store.suppression_entry("acme", "carol@example.net") is None
    assert await world.gw.store.suppression_entry("acme", "alice@example.net") is None
    assert await world.recorded() == []


async def test_one_click_unsubscribes_at_once_and_the_next_rcpt_is_refused(world: World):
    raw = await world.relay("bob@example.net")
    assert dkim_verifies(raw, world.gw.records)
    (post,) = c.header_fields(raw, "List-Unsubscribe-Post")
    assert post == b"List-Unsubscribe-Post: List-Unsubscribe=One-Click"
    (field,) = c.header_fields(raw, "List-Unsubscribe")
    assert b"\r\n" not in field  # one line: nothing for a later hop to refold
    url, mailto = c.list_unsubscribe(raw)
    assert url.startswith(f"{world.base}/t/u/") and c.SENDER_UNSUBSCRIBE.encode() not in field
    local, _, domain = mailto.removeprefix("mailto:").partition("@")
    assert domain == "bounce.acme-mail.com"
    keys = links.KeyRing(lambda: world.gw.rt.settings.tenants)
    assert read_local_part(local, keys()) == ("acme", "bob@example.net")

    # GET shows the page, in the reader's language, and changes nothing (scanners GET).
    response = await world.get(url, **{"Accept-Language": "de-CH,de;q=0.9,en;q=0.5"})
    page = response.body.decode()
    assert response.status == 200 and 'lang="de"' in page and "Abmelden" in page
    assert "b***@example.net" in page and "bob@example.net" not in page
    async with world.http.post(url, data={"something": "else"}) as response:
        assert response.status == 400
    assert await world.gw.store.suppression_entry("acme", "bob@example.net") is None

    # RFC 8058: the mailbox provider POSTs the body, and gets 200.
    async with world.http.post(
        url,
        data=b"List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    ) as response:
        assert response.status == 200
    entry = await world.gw.store.suppression_entry("acme", "bob@example.net")
    assert entry is not None and (entry.reason, entry.source) == ("unsubscribe", "link")
    (row,) = await world.recorded()
    assert (row["kind"], row["recipient"], row["reason"]) == (
        "unsubscribe",
        "bob@example.net",
        "one_click",
    )

    # The gateway's mirror follows the store: the next RCPT to bob is refused.
    code, text = await until(
        lambda: send(world.gw.port, to="bob@example.net"), done=code_is(550), timeout=3.0
    )
    assert text.startswith("5.7.1"), (code, text)
    assert (await send(world.gw.port, to="robert@example.net"))[0] == 250


async def test_a_message_to_several_recipients_is_not_tracked(world: World):
    recipients = ["one@example.net", "two@example.net"]
    data = c.campaign("one@example.net")
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=world.gw.port, start_tls=False)
    await client.connect()
    await client.login("mailwizz-acme", PASSWORD)
    await client.sendmail("news@acme-mail.com", recipients, data)
    await client.quit()
    raw = world.sink.by_recipient("two@example.net")[-1].data
    assert c.tracked_links(raw, world.base) == [] and world.base not in c.html_of(raw)
    # The sender's List-Unsubscribe stays: ours would name one recipient for both.
    assert c.list_unsubscribe(raw)[0] == c.SENDER_UNSUBSCRIBE
    assert dkim_verifies(raw, world.gw.records)


@pytest.mark.parametrize(
    ("headers", "sender_has_one", "expect_ours"),
    [("add", True, False), ("add", False, True), ("keep", True, False), ("keep", False, False)],
)
async def test_list_unsubscribe_policies(tmp_path, sink, headers, sender_has_one, expect_ours):
    text = c.tracking_config(tmp_path, sink.port, "https://t.acme-mail.com", headers=headers)
    gw = await start_gateway_from(tmp_path, text)
    try:
        data = c.campaign("pat@example.net", unsubscribe=sender_has_one)
        assert (await send(gw.port, to="pat@example.net", data=data))[0] == 250
        raw = sink.by_recipient("pat@example.net")[-1].data
        assert dkim_verifies(raw, gw.records)
        found = c.header_fields(raw, "List-Unsubscribe")
        if expect_ours:
            assert c.list_unsubscribe(raw)[0].startswith("https://t.acme-mail.com/t/u/")
            assert len(c.header_fields(raw, "List-Unsubscribe-Post")) == 1
        elif sender_has_one:
            assert c.list_unsubscribe(raw)[0] == c.SENDER_UNSUBSCRIBE
        else:
            assert found == [] and c.header_fields(raw, "List-Unsubscribe-Post") == []
    finally:
        await gw.close()


@pytest.mark.parametrize(
    ("policy", "sender", "expected"),
    [
        # MailWizz's default names the subscriber: replaced even when adding.
        ("add", c.MAILWIZZ_FEEDBACK_ID, f"{c.CAMPAIGN}:acme:bulk:acmemail"),
        ("add", "camp-7:acme:news:acmesender", "camp-7:acme:news:acmesender"),
        ("add", "", f"{c.CAMPAIGN}:acme:bulk:acmemail"),
        ("add", "camp-7:x:pat@example.net:acmesender", f"{c.CAMPAIGN}:acme:bulk:acmemail"),
        ("add", "camp-7:a:b:c:toolongsenderid1234", f"{c.CAMPAIGN}:acme:bulk:acmemail"),
        ("replace", "camp-7:acme:news:acmesender", f"{c.CAMPAIGN}:acme:bulk:acmemail"),
    ],
)
async def test_feedback_id(tmp_path, sink, policy, sender, expected):
    text = c.tracking_config(tmp_path, sink.port, "https://t.acme-mail.com", feedback=policy)
    gw = await start_gateway_from(tmp_path, text)
    try:
        data = c.campaign("pat@example.net", feedback_id=sender)
        assert (await send(gw.port, to="pat@example.net", data=data))[0] == 250
        raw = sink.by_recipient("pat@example.net")[-1].data
        assert dkim_verifies(raw, gw.records)
        assert c.header_fields(raw, "Feedback-ID") == [f"Feedback-ID: {expected}".encode()]
        signature = c.parsed(raw)["DKIM-Signature"]
        assert "feedback-id" in signature.lower() and "list-unsubscribe-post" in signature.lower()
    finally:
        await gw.close()


FIXTURES = Path(__file__).parent.parent / "fixtures" / "html"


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("*.eml")))
async def test_every_builder_s_message_is_tracked_and_still_verifies(world: World, name: str):
    data = (FIXTURES / name).read_bytes()
    data = data if b"\r\n" in data else data.replace(b"\n", b"\r\n")
    # Sent as acme: only the From line changes, so DKIM signs acme's domain.
    head, sep, body = data.partition(b"\r\n\r\n")
    lines = [
        b"From: News <news@acme-mail.com>" if line[:5].lower() == b"from:" else line
        for line in head.split(b"\r\n")
    ]
    raw = await world.relay("jane@example.com", b"\r\n".join(lines) + sep + body)
    assert dkim_verifies(raw, world.gw.records)
    tracked = c.tracked_links(raw, world.base)
    if name in ("plain_only.eml", "mailwizz_tracked.eml"):  # nothing to track / already tracked
        assert tracked == [] and raw.endswith(body)
        return
    # Every tracked link leads back to a URL the sender wrote.
    assert tracked
    # As written in the HTML: entity-escaped ampersands, maybe percent-encoded already.
    written = c.html_parts(data)
    written += written.replace("&amp;", "&")
    for link in dict.fromkeys(tracked):
        response = await world.get(link)
        assert response.status == 302
        location = response.headers["Location"]
        assert location in written or urllib.parse.unquote(location) in written, location


async def test_a_replayed_token_counts_once(world: World):
    raw = await world.relay("rex@example.net")
    link = c.tracked_links(raw, world.base)[0]
    pixel = c.pixel(raw, world.base)
    world.ahead["s"] = HOUR
    for _ in range(5):  # one client fetching the same token again and again within the window
        assert (await world.get(link)).status == 302
        assert (await world.get(pixel)).status == 200
    world.ahead["s"] = HOUR + 61  # the window has passed: a new fetch is a new event
    assert (await world.get(link)).status == 302
    rows = await world.recorded()
    assert [(r["kind"], r["link_index"]) for r in rows] == [("click", 0), ("open", 0), ("click", 0)]
