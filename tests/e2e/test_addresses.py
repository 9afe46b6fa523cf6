"""Addresses checked at MAIL and RCPT: syntax, SMTPUTF8, and no connection leaked downstream."""

import base64
import os

import aiosmtplib
import pytest

from conf import parse
from gateway.downstream import SmtpDownstream
from tests.support.harness import PASSWORD, config_text, make_keys, message, start_gateway_from
from tests.support.rawsmtp import RawSMTP
from tests.support.sink import Sink

UTF8_RCPT = "josé@exämple.net"


async def session(port: int) -> RawSMTP:
    raw = await RawSMTP.open(port)
    assert (await raw.cmd(b"EHLO client.test")).startswith("250")
    auth = b"\x00mailwizz-acme\x00" + PASSWORD.encode()
    assert (await raw.cmd(b"AUTH PLAIN " + base64.b64encode(auth))).startswith("235")
    return raw


@pytest.fixture
async def no_utf8_sink():
    s = await Sink(smtputf8=False).start()
    yield s
    await s.stop()


async def test_smtputf8_mail_is_relayed_with_smtputf8_when_the_next_hop_offers_it(gateway, sink):
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=gateway.port, timeout=10, start_tls=False)
    await client.connect()
    await client.login("mailwizz-acme", PASSWORD)
    errors, reply = await client.sendmail(
        "news@acme-mail.com", [UTF8_RCPT], message(to="x@y.z"), mail_options=["SMTPUTF8"]
    )
    await client.quit()
    assert errors == {}, reply
    (got,) = sink.by_recipient(UTF8_RCPT)
    assert "SMTPUTF8" in [o.upper() for o in got.mail_options]


async def test_utf8_without_smtputf8_is_refused_at_rcpt(gateway):
    raw = await session(gateway.port)
    assert (await raw.cmd(b"MAIL FROM:<news@acme-mail.com>")).startswith("250")
    reply = await raw.cmd(f"RCPT TO:<{UTF8_RCPT}>".encode())
    assert reply.startswith("553 5.6.7"), reply


async def test_a_utf8_sender_without_smtputf8_is_refused_at_mail(gateway):
    raw = await session(gateway.port)
    reply = await raw.cmd("MAIL FROM:<josé@acme-mail.com>".encode())
    assert reply.startswith("553 5.6.7"), reply


async def test_utf8_is_refused_at_rcpt_when_the_next_hop_does_not_offer_smtputf8(
    tmp_path, no_utf8_sink
):
    gw = await start_gateway_from(tmp_path, config_text(tmp_path, no_utf8_sink.port))
    try:
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=gw.port, timeout=10, start_tls=False)
        await client.connect()
        await client.login("mailwizz-acme", PASSWORD)
        # Before any connection downstream, what it offers is not known: the
        # message is refused once it is (5xx, never a 451 retried forever).
        with pytest.raises(aiosmtplib.SMTPResponseException) as err:
            await client.sendmail(
                "news@acme-mail.com", [UTF8_RCPT], message(), mail_options=["SMTPUTF8"]
            )
        assert (err.value.code, err.value.message[:5]) == (553, "5.6.7"), err.value
        await client.rset()
        # Now it is known: refused at RCPT.
        await client.mail("news@acme-mail.com", options=["SMTPUTF8"])
        with pytest.raises(aiosmtplib.SMTPRecipientRefused) as err:
            await client.rcpt(UTF8_RCPT, encoding="utf-8")
        assert (err.value.code, err.value.message[:5]) == (553, "5.6.7")
        await client.quit()
        assert no_utf8_sink.messages == []
    finally:
        await gw.close()


@pytest.mark.parametrize(
    "rcpt",
    [
        b"a\x00b@example.net",
        b"a\rb@example.net",
        b"x" * 65 + b"@example.net",
        b"user%other.example@example.net",
        b"other.example!user@example.net",
        b"@relay.example:user@example.net",
        b"user@[192.0.2.1]",
    ],
)
async def test_malformed_recipients_are_refused_at_rcpt(gateway, sink, rcpt):
    raw = await session(gateway.port)
    assert (await raw.cmd(b"MAIL FROM:<news@acme-mail.com>")).startswith("250")
    reply = await raw.cmd(b"RCPT TO:<" + rcpt + b">")
    assert reply.startswith("553 5.1.3"), (rcpt, reply)


@pytest.mark.parametrize(
    "sender",
    [
        b"news\x00@acme-mail.com",
        b"x" * 65 + b"@acme-mail.com",
        b"news%x@acme-mail.com",
        b"news@[192.0.2.1]",
    ],
)
async def test_malformed_senders_are_refused_at_mail(gateway, sender):
    raw = await session(gateway.port)
    reply = await raw.cmd(b"MAIL FROM:<" + sender + b">")
    assert reply.startswith("553 5.1.7"), (sender, reply)


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def test_failing_relays_leave_no_connection_open(tmp_path, sink):
    make_keys(tmp_path)
    settings = parse(config_text(tmp_path, sink.port), environ={})
    down = SmtpDownstream(settings.downstream)
    await down.send("news@acme-mail.com", ["warm@example.net"], message())  # warm the pool
    before = open_fds()
    for i in range(25):
        # An address the client library cannot write without SMTPUTF8.
        result = await down.send("news@acme-mail.com", [f"ü{i}@example.net"], message())
        assert result.outcome in ("deferred", "rejected"), result
    login = settings.downstream.model_copy(update={"username": "u", "password": "p"})
    refused = SmtpDownstream(login)  # the sink offers no AUTH: every login fails
    for _ in range(25):
        result = await refused.send("news@acme-mail.com", ["a@example.net"], message())
        assert result.outcome == "deferred", result
    assert open_fds() - before <= 2, (before, open_fds())
    await down.close()
    await refused.close()
