"""A reply handled end to end in-process: matched, classified (rules, then the model over a
local Anthropic server), stored once, and its effects, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

import conf
from policy.replies import token
from scheduler.replies import ReplyService
from tests.support.anthropic_server import FakeAnthropic, classify_reply
from tests.unit.test_reply_store import MID, sent_once

SECRET = "0123456789abcdef0123"
NOW = datetime(2026, 12, 4, 10, tzinfo=UTC).timestamp()
REPLY_TO = token.address([SECRET], "acme", MID, "reply.acme-mail.com")


def config(base_url: str | None, key: str | None = "sk-test") -> conf.Settings:
    ai = (
        f'ai: {{api_key: "${{KEY:-}}", base_url: {base_url or "null"}, max_retries: 0,'
        " timeout: 2}\n"
    )
    text = f"""
pools: {{p: [{{ip: 192.0.2.1, vmta: v1, hostname: mta1.acme-mail.com}}]}}
tenants:
  - name: acme
    pool: p
    sender_domains: [acme-mail.com]
    trusted_networks: [127.0.0.1/32]
    reply_domain: reply.acme-mail.com
    tracking: {{base_url: "https://t.acme-mail.com", secrets: ["{SECRET}"]}}
    webhooks: [{{url: "https://hooks.acme-mail.com/x", secret: "0123456789abcdef-x",
                 events: [replied]}}]
replies: {{min_confidence: 0.7, out_of_office_delay: 3600}}
{ai}"""
    return conf.parse(text, environ={"KEY": key} if key else {})


def reply(body: str, subject: str = "Re: Hello", to: str = REPLY_TO, **headers: str) -> bytes:
    head = "".join(f"{k.replace('_', '-')}: {v}\r\n" for k, v in headers.items())
    return (
        f"From: A <a@x.net>\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <r@x.net>\r\n"
        f"{head}Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    ).encode()


@pytest.fixture
async def api() -> AsyncIterator[FakeAnthropic]:
    fake = FakeAnthropic(write=classify_reply)
    await fake.start()
    yield fake
    await fake.close()


def service(store, settings: conf.Settings, alerts: list) -> ReplyService:
    async def alert(a):
        alerts.append(a)

    return ReplyService(store, lambda: settings, alert=alert, clock=lambda: NOW)


async def test_an_interested_reply_stops_alerts_and_tells_the_webhook(store, api):
    await sent_once(store)
    alerts: list = []
    svc = service(store, config(api.base_url), alerts)
    raw = reply("I am interested, tell me more.\n\nOn Mon, Anna wrote:\n> unsubscribe")
    assert await svc.handle("acme", raw, key="inbox:1", source="smtp", at=NOW) == "stored"
    assert await svc.handle("acme", raw, key="inbox:1", source="smtp", at=NOW) == "duplicate"
    [row] = await store.replies("acme", 10)
    assert (row.classification, row.decided_by, row.review, row.email, row.step) == (
        "interested", "model", False, "a@x.net", "intro",
    )  # fmt: skip
    assert await store.reply_original("acme", row.id) == raw
    assert await store.stop_reason("acme", "a@x.net", 0.0) == "reply"
    assert [a.key for a in alerts] == ["reply:acme:intro:a@x.net"]
    [(_, target, payload, _)] = await store.claim_notifications(NOW, NOW + 60, 10)
    assert "hooks.acme-mail.com" in target and '"class": "interested"' in payload
    # The model saw the replier's words only, not the quoted footer.
    sent = api.requests[-1][3]["messages"][0]["content"]
    assert "interested" in sent and "unsubscribe" not in sent


async def test_out_of_office_postpones_and_does_not_stop(store, api):
    enrollment = await sent_once(store)
    svc = service(store, config(api.base_url), [])
    raw = reply("I am out of the office, back on 12 January.", "Out of Office",
                Auto_Submitted="auto-replied")  # fmt: skip
    assert await svc.handle("acme", raw, key="k1", source="smtp", at=NOW) == "stored"
    [row] = await store.replies("acme", 10)
    assert (row.classification, row.decided_by) == ("out_of_office", "rules")
    assert await store.stop_reason("acme", "a@x.net", 0.0) is None
    resume = datetime(2027, 1, 13, tzinfo=UTC).timestamp()
    assert await store.claim_ops("w", resume - 1, 30.0, 10) == []
    [op] = await store.claim_ops("w", resume, 30.0, 10)
    assert op.enrollment == enrollment
    assert api.requests == []  # the rules decided: no model call


async def test_out_of_office_without_a_date_takes_the_configured_delay(store, api):
    await sent_once(store)
    svc = service(store, config(api.base_url), [])
    raw = reply("I am on holiday.", "Automatic reply", X_Autoreply="yes")
    await svc.handle("acme", raw, key="k1", source="imap", at=NOW)
    assert await store.claim_ops("w", NOW + 3599, 30.0, 10) == []
    assert len(await store.claim_ops("w", NOW + 3600, 30.0, 10)) == 1


async def test_unsubscribe_wording_suppresses_at_once(store, api):
    await sent_once(store)
    svc = service(store, config(api.base_url), [])
    await svc.handle("acme", reply("Please remove me from your list."), key="k", source="smtp")
    entry = await store.suppression_entry("acme", "a@x.net")
    assert entry is not None and entry.reason == "unsubscribe" and entry.source == "reply"
    assert await store.stop_reason("acme", "a@x.net", 0.0) == "unsubscribe"


async def test_low_confidence_api_down_and_no_key_are_marked_for_review(store, api):
    await sent_once(store)
    svc = service(store, config(api.base_url), [])
    await svc.handle("acme", reply("maybe later"), key="k1", source="smtp")
    api.faults = deque([(500, None)])
    await svc.handle("acme", reply("we are interested"), key="k2", source="smtp")
    api.faults = deque([("malformed", None)])
    await svc.handle("acme", reply("we are interested"), key="k3", source="smtp")
    nokey = service(store, config(api.base_url, key=None), [])
    await nokey.handle("acme", reply("we are interested"), key="k4", source="smtp")
    rows = {r.key: r for r in await store.replies("acme", 10)}
    assert (rows["k1"].classification, rows["k1"].review) == ("other", True)
    assert rows["k1"].decided_by == "model" and rows["k1"].confidence == 0.4
    for key, why in (("k2", "HTTP 500"), ("k3", ""), ("k4", "no AI key")):
        r = rows[key]
        assert (r.classification, r.decided_by, r.review) == ("other", "fallback", True)
        assert why in r.detail
    # A human reply stops the sequence even when only the rules could read it.
    assert await store.stop_reason("acme", "a@x.net", 0.0) == "reply"


async def test_matching_by_in_reply_to_and_refusing_forgeries(store, api):
    await sent_once(store)
    svc = service(store, config(api.base_url), [])
    by_ref = reply("Let's have a call", to="anna@acme-mail.com", In_Reply_To=f"<{MID}>")
    assert await svc.handle("acme", by_ref, key="imap:1", source="imap") == "stored"
    [row] = await store.replies("acme", 10)
    assert row.classification == "meeting_request" and row.source == "imap"
    forged = REPLY_TO[:10] + ("a" if REPLY_TO[10] != "a" else "b") + REPLY_TO[11:]
    assert await svc.handle("acme", reply("hi", to=forged), key="x", source="smtp") == ("unmatched")
    other_domain = reply("hi", to="anna@acme-mail.com", In_Reply_To=f"<{MID[:33]}evil.com>")
    assert await svc.handle("acme", other_domain, key="y", source="imap") == "unmatched"
