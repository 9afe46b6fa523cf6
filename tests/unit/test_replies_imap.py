"""Replies polled from a tenant's IMAP mailbox, against a local IMAP server on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from conf.schema.replies import ImapMailbox
from policy.store.inbox import Inbox
from scheduler.replies_imap import MailboxPoller
from tests.support.anthropic_server import FakeAnthropic, classify_reply
from tests.support.imap_server import FakeImap
from tests.unit.test_replies import NOW, REPLY_TO, config, reply, service
from tests.unit.test_reply_store import MID, sent_once


@pytest.fixture
async def imap() -> AsyncIterator[FakeImap]:
    server = FakeImap()
    await server.start()
    yield server
    await server.close()


@pytest.fixture
async def api() -> AsyncIterator[FakeAnthropic]:
    fake = FakeAnthropic(write=classify_reply)
    await fake.start()
    yield fake
    await fake.close()


def mailbox(imap: FakeImap, password: str = "imap-secret") -> ImapMailbox:
    from conf.schema.base import EnvText  # as the loader hands it: from the environment

    return ImapMailbox.model_validate(
        {"tenant": "acme", "host": "127.0.0.1", "port": imap.port, "tls": False,
         "username": imap.username, "password": EnvText(password), "interval": 1.0,
         "timeout": 5.0}
    )  # fmt: skip


async def test_unseen_replies_are_matched_classified_and_flagged_seen(store, api, imap, tmp_path):
    await sent_once(store)
    svc = service(store, config(api.base_url), [])
    by_token = imap.add(reply("We are interested!", to=f"Anna <{REPLY_TO}>"))
    by_reference = imap.add(
        reply("Could we set up a call?", to="anna@acme-mail.com", References=f"<x@y> <{MID}>")
    )
    stranger = imap.add(reply("Hello there", to="anna@acme-mail.com"))
    report = imap.add(
        b"From: MAILER-DAEMON@x\r\nSubject: failed\r\nContent-Type: multipart/report;"
        b' report-type=delivery-status; boundary="b"\r\n\r\n--b\r\n\r\nx\r\n--b--\r\n'
    )
    inbox = Inbox(tmp_path / "inbox")
    inbox.ensure()
    poller = MailboxPoller(mailbox(imap), svc, inbox)
    assert await poller.poll() == 4
    assert poller.outcomes == {"stored": 2, "unmatched": 1, "report": 1}
    assert sorted(imap.seen()) == sorted([by_token, by_reference, stranger, report])
    # The report takes the bounce path: written whole to the feedback inbox.
    [written] = inbox.pending()
    envelope, data = Inbox.read(written)
    assert envelope["rcpt_tos"] == [] and b"report-type=delivery-status" in data
    rows = {r.key.rsplit(":", 1)[1]: r for r in await store.replies("acme", 10)}
    assert rows[str(by_token)].classification == "interested"
    assert rows[str(by_reference)].classification == "meeting_request"
    assert {r.source for r in rows.values()} == {"imap"}
    assert rows[str(by_token)].key == f"imap:{imap.username}@127.0.0.1/INBOX:7:{by_token}"
    # A second round finds nothing new; a message read again is not stored twice.
    assert await poller.poll() == 0
    imap.folders["INBOX"][0].flags.clear()
    assert await poller.poll() == 1 and poller.outcomes["duplicate"] == 1
    assert len(await store.replies("acme", 10)) == 2
    assert await store.stop_reason("acme", "a@x.net", 0.0) == "reply"
    assert NOW  # the service's clock


async def test_a_wrong_password_fails_the_round_and_flags_nothing(store, api, imap):
    await sent_once(store)
    imap.add(reply("We are interested!"))
    poller = MailboxPoller(mailbox(imap, password="wrong"), service(store, config(None), []))
    with pytest.raises(Exception, match="wrong"):
        await poller.poll()
    assert imap.seen() == []
