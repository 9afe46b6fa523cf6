"""The inbound listener over loopback SMTP and the inbox processor on a real SQLite store."""

import asyncio
import os
import textwrap
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiosmtplib
import pytest

from conf import Settings, parse
from gateway.inbound import InboundListener
from policy import links, unsubscribe
from policy.feedback import verp
from policy.store.inbox import Inbox
from policy.store.sqlite import SqliteStore
from policy.tokens import issue
from scheduler.feedback_service import FeedbackService
from tests.support.feedback import arf, dsn

SECRET = "verp-secret-0123456789"
TRACKING = "tracking-secret-0123456789"


def settings(folder: Path) -> Settings:
    text = f"""
    database: "sqlite:///{folder}/s.db"
    tenants:
      - {{name: acme, pool: p, trusted_networks: [127.0.0.1/32], sender_domains: [acme-mail.com],
          bounce_domain: Bounce.Acme-Mail.com,
          tracking: {{base_url: "https://t.acme-mail.com", secrets: ["{TRACKING}"]}}}}
      - {{name: beta, pool: p, trusted_networks: [127.0.0.2/32], sender_domains: [beta.example]}}
    pools: {{p: [{{ip: 192.0.2.10, vmta: p1, hostname: mta1.example}}]}}
    feedback: {{verp_secrets: ["{SECRET}"], inbox: "{folder}/inbox", soft_bounce_limit: 2}}
    """
    return parse(textwrap.dedent(text), environ=os.environ)


@pytest.fixture
async def world(tmp_path) -> AsyncIterator[tuple[Settings, SqliteStore, FeedbackService]]:
    s = settings(tmp_path)
    store = SqliteStore(str(tmp_path / "s.db"))
    await store.open()
    service = FeedbackService(store, lambda: s)
    await asyncio.to_thread(service.inbox.inbox.ensure)
    yield s, store, service
    await store.close()


def verp_for(rcpt: str, message_id: str = "<m1@acme-mail.com>") -> str:
    origin = verp.Origin("acme", message_id, rcpt, "192.0.2.10", "camp-1")
    return verp.address(verp.keys_for((SECRET,)), origin, "bounce.acme-mail.com")


def folder(s: Settings, name: str) -> list[str]:
    return sorted(os.listdir(Path(s.feedback.inbox) / name))


async def test_listener_accepts_only_bounce_domains_and_fsyncs_before_250(world):
    s, _, _ = world
    listener = InboundListener(lambda: s, Inbox(s.feedback.inbox))
    server = await listener.start("127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=10, start_tls=False)
        await client.connect()
        await client.ehlo()
        await client.mail("")
        for rcpt in ("someone@beta.example", "someone@elsewhere.example"):  # not a bounce domain
            reply = await client.execute_command(b"RCPT", f"TO:<{rcpt}>".encode())
            assert (reply.code, reply.message[:5]) == (550, "5.7.1")
        local, _, domain = verp_for("bob@example.net").partition("@")
        code, _ = await client.rcpt(f"{local}@{domain.upper()}")  # domains are caseless
        assert code == 250
        code, _ = await client.data(dsn("x@bounce.acme-mail.com", "bob@example.net"))
        assert code == 250
        await client.quit()
        (name,) = folder(s, "new")
        envelope, raw = Inbox.read(Path(s.feedback.inbox) / "new" / name)
        assert envelope["mail_from"] == "" and len(envelope["rcpt_tos"]) == 1
        assert b"Final-Recipient: rfc822; bob@example.net" in raw
        assert listener.accepted == 1 and folder(s, "tmp") == []
    finally:
        await listener.close()


async def test_hard_bounce_suppresses_and_records_an_event(world):
    s, store, service = world
    inbox = service.inbox.inbox
    to = verp_for("bob@example.net")
    # The returned headers name the message and campaign; the token's tags confirm them.
    original = "To: bob@example.net\r\nMessage-ID: <m1@acme-mail.com>\r\nX-Job: camp-1\r\n"
    raw = dsn(to, "bob@example.net", original=original)
    await asyncio.to_thread(inbox.write, {"mail_from": "", "rcpt_tos": [to]}, raw)
    assert await service.inbox.process_pending() == 1
    entry = await store.suppression_entry("acme", "bob@example.net")
    assert entry is not None and entry.reason == "hard_bounce"
    (event,) = await store.recent_events()
    assert (event["kind"], event["ip"], event["job"], event["message_id"]) == (
        "bounced",
        "192.0.2.10",
        "camp-1",
        "<m1@acme-mail.com>",
    )
    assert len(folder(s, "done")) == 1 and folder(s, "new") == []


async def test_soft_bounces_suppress_at_the_limit_with_expiry(world):
    _, store, service = world
    inbox = service.inbox.inbox
    for i in range(2):
        to = verp_for("full@example.net", message_id=f"<m{i}@acme-mail.com>")
        raw = dsn(to, "full@example.net", status="4.2.2", diagnostic="smtp; 452 4.2.2 full")
        await asyncio.to_thread(inbox.write, {"rcpt_tos": [to]}, raw)
        await service.inbox.process_pending()
        entry = await store.suppression_entry("acme", "full@example.net")
        assert (entry is None) == (i == 0)
    assert entry is not None and entry.reason == "soft_bounce" and entry.expires_at is not None


async def test_complaint_to_the_feedback_address_maps_by_quoted_return_path(world):
    _, store, service = world
    raw = arf("fbl@bounce.acme-mail.com", "carol@example.net", verp_for("carol@example.net"))
    await asyncio.to_thread(service.inbox.inbox.write, {"rcpt_tos": ["fbl@x"]}, raw)
    await service.inbox.process_pending()
    entry = await store.suppression_entry("acme", "carol@example.net")
    assert entry is not None and entry.reason == "complaint"
    assert [e["kind"] for e in await store.recent_events()] == ["complained"]


async def test_the_same_bounce_again_is_not_counted_twice(world):
    s, store, service = world
    to = verp_for("full@example.net")
    raw = dsn(to, "full@example.net", status="4.2.2", diagnostic="smtp; 452 4.2.2 full")
    for _ in range(3):  # an MTA looping on one message
        await asyncio.to_thread(service.inbox.inbox.write, {"rcpt_tos": [to]}, raw)
    await service.inbox.process_pending()
    assert len(await store.recent_events()) == 1
    assert await store.suppression_entry("acme", "full@example.net") is None
    assert len(folder(s, "done")) == 3


MALFORMED = {
    "truncated": dsn("x@b", "bob@example.net")[:400],
    "garbage": bytes(range(256)) * 400,
    "wrong_charset": "Subject: =?koi8-r?B?8NLJ18XU?=\r\nContent-Type: text/plain; charset=x-unknown"
    "\r\n\r\n\xff\xfe Mail delivery failed \xe9\r\n".encode("latin-1"),
    "bounce_of_bounce": dsn(
        "x@b", "mailer-daemon@relay.example", original=dsn("y@b", "bob@example.net").decode()
    ),
    "unknown_token": dsn("bounces+AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA@b", "bob@example.net"),
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
async def test_malformed_input_ends_undetermined_with_the_raw_kept(world, name):
    s, store, service = world
    raw = MALFORMED[name]
    await asyncio.to_thread(service.inbox.inbox.write, {"rcpt_tos": ["x@b"]}, raw)
    assert await service.inbox.process_pending() == 1
    (kept,) = folder(s, "undetermined")
    assert Inbox.read(Path(s.feedback.inbox) / "undetermined" / kept)[1] == raw
    assert await store.suppressions() == []


async def test_a_50_mb_report_is_processed_without_blocking(world):
    s, _, service = world
    filler = b"X-Filler: " + b"a" * 990 + b"\r\n"
    raw = dsn("x@b", "bob@example.net") + filler * 50_000
    await asyncio.to_thread(service.inbox.inbox.write, {"rcpt_tos": ["x@b"]}, raw)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    task = asyncio.create_task(ticker())
    try:
        assert await asyncio.wait_for(service.inbox.process_pending(), 60) == 1
    finally:
        task.cancel()
    assert ticks > 0  # the loop kept turning while the report was parsed
    assert len(folder(s, "undetermined")) == 1  # no valid token: kept for a person


async def test_a_50_mb_report_over_smtp_is_kept_and_acted_on(world):
    s, store, service = world
    # The default limit is sized for bounces; an operator may raise it.
    big = s.model_copy(
        update={"feedback": s.feedback.model_copy(update={"max_message_size": 67_108_864})}
    )
    listener = InboundListener(lambda: big, Inbox(s.feedback.inbox))
    server = await listener.start("127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    to = verp_for("big@example.net")
    # The returned message is where the bulk is: 50 MB of headers and body.
    raw = dsn(to, "big@example.net") + (b"X-Filler: " + b"a" * 980 + b"\r\n") * 51_000
    assert len(raw) > 50_000_000
    try:
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=120, start_tls=False)
        await client.connect()
        code, _ = await client.sendmail("", [to], raw)
        await client.quit()
        assert code == {}  # every recipient accepted, then 250 for the data
    finally:
        await listener.close()
    (name,) = folder(s, "new")
    assert Inbox.read(Path(s.feedback.inbox) / "new" / name)[1] == raw  # kept byte for byte
    assert await asyncio.wait_for(service.inbox.process_pending(), 120) == 1
    entry = await store.suppression_entry("acme", "big@example.net")
    assert entry is not None and entry.reason == "hard_bounce"


async def test_mailto_unsubscribe_suppresses_the_token_recipient(world):
    s, store, service = world
    keys = links.tenant_keys(s.tenants)["acme"]
    local = unsubscribe.local_part(keys, "acme", "camp-1", "Dave@Example.net")
    raw = b"From: someone-else@example.org\r\nSubject: unsubscribe\r\n\r\n"
    for rcpt in (f"{local}@bounce.acme-mail.com", "unsubscribe+AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA@x"):
        await asyncio.to_thread(service.inbox.inbox.write, {"rcpt_tos": [rcpt]}, raw)
    await service.inbox.process_pending()
    entry = await store.suppression_entry("acme", "dave@example.net")
    assert entry is not None and (entry.reason, entry.source) == ("unsubscribe", "mailto")
    assert await store.suppression_entry("acme", "someone-else@example.org") is None
    assert len(folder(s, "done")) == 1 and len(folder(s, "undetermined")) == 1  # the forged one


async def test_an_expired_mailto_unsubscribe_acts_on_nothing(world):
    s, store, service = world
    keys = links.tenant_keys(s.tenants)["acme"]
    month_ago = int(time.time()) - 31 * 86400
    token = issue(keys, "unsubscribe", "acme", "camp-1", "old@example.net", 1, issued_at=month_ago)
    rcpt = f"{unsubscribe.PREFIX}{token}@bounce.acme-mail.com"
    await asyncio.to_thread(service.inbox.inbox.write, {"rcpt_tos": [rcpt]}, b"Subject: u\r\n\r\n")
    await service.inbox.process_pending()
    assert await store.suppression_entry("acme", "old@example.net") is None
    assert len(folder(s, "undetermined")) == 1


async def test_a_store_failure_leaves_the_message_for_the_next_round(world):
    s, store, service = world
    to = verp_for("bob@example.net")
    await asyncio.to_thread(
        service.inbox.inbox.write, {"rcpt_tos": [to]}, dsn(to, "bob@example.net")
    )
    await store.close()  # the store is down
    assert await service.inbox.process_pending() == 0
    assert len(folder(s, "new")) == 1
    await store.open()
    assert await service.inbox.process_pending() == 1
    assert await store.suppression_entry("acme", "bob@example.net") is not None
