"""The SMTP session as MailWizz's Swift mailer speaks it, over a real socket.

Swift pipelines MAIL, RCPT and DATA when EHLO offers PIPELINING, sends no
RSET after a failed DATA, and keeps one connection for up to
``max_connection_messages`` messages: one refused message must not cost the
next ones on the same connection.
"""

from __future__ import annotations

import asyncio
import base64
import re
import time
from pathlib import Path

from policy.suppression import Suppression
from tests.support.harness import (
    PASSWORD,
    Gateway,
    config_text,
    message,
    send,
    start_gateway_from,
)
from tests.support.rawsmtp import RawSMTP
from tests.support.sink import Sink
from tests.support.wait import until

AUTH = base64.b64encode(b"\0mailwizz-acme\0" + PASSWORD.encode())


async def logged_in(port: int) -> RawSMTP:
    s = await RawSMTP.open(port)
    assert "PIPELINING" in await s.cmd(b"EHLO mailwizz.test")
    assert (await s.cmd(b"AUTH PLAIN " + AUTH)).startswith("235")
    return s


async def pipelined(s: RawSMTP, to: str) -> list[str]:
    """MAIL, RCPT and DATA in one write, as Swift sends them; the three replies."""
    s.writer.write(
        b"MAIL FROM:<bounces@acme-mail.com>\r\n" + f"RCPT TO:<{to}>\r\n".encode() + b"DATA\r\n"
    )
    await s.writer.drain()
    return [await s.reply() for _ in range(3)]


async def finish(s: RawSMTP, data: bytes) -> str:
    return await s.send_raw(data + b"\r\n.\r\n")


async def test_data_after_every_rcpt_refused_says_why_and_the_next_mail_needs_no_rset(
    gateway: Gateway, sink: Sink
):
    await gateway.store.suppress([Suppression("acme", "gone@example.net", "unsubscribe", "link")])
    await until(
        lambda: gateway.rt.policy.suppression.check("acme", "gone@example.net"),
        timeout=2.0,
        what="the suppression in the mirror",
    )
    s = await logged_in(gateway.port)
    try:
        mail, rcpt, data = await pipelined(s, "gone@example.net")
        assert mail.startswith("250") and rcpt.startswith("550 5.7.1")
        assert data.startswith("554 5.5.1 No valid recipients: 550 5.7.1 Recipient suppressed")
        # Swift sends the next message's MAIL FROM straight away, without RSET.
        mail, rcpt, data = await pipelined(s, "ok@example.net")
        assert [mail[:3], rcpt[:3], data[:3]] == ["250", "250", "354"]
        assert (await finish(s, message(to="ok@example.net"))).startswith("250")
    finally:
        await s.close()
    assert [m.recipients for m in sink.messages] == [["ok@example.net"]]


async def test_a_failed_message_keeps_the_connection_for_the_next_ones(
    gateway: Gateway, sink: Sink
):
    """No 421-and-close mid-session: the next hop dropping us, a refusal, then a send."""
    s = await logged_in(gateway.port)
    try:
        replies = await pipelined(s, "drop-data@example.net")
        assert [r[:3] for r in replies] == ["250", "250", "354"]
        lost = await finish(s, message(to="drop-data@example.net"))
        assert lost.startswith("451 4.4.2")
        mail, rcpt, data = await pipelined(s, "bad address@example.net")
        assert mail.startswith("250") and rcpt.startswith("553 5.1.3")
        assert data.startswith("554 5.5.1")
        replies = await pipelined(s, "ok@example.net")
        assert [r[:3] for r in replies] == ["250", "250", "354"]
        assert (await finish(s, message(to="ok@example.net"))).startswith("250")
        assert (await s.cmd(b"QUIT")).startswith("221")
    finally:
        await s.close()
    assert [m.recipients for m in sink.messages] == [["ok@example.net"]]


async def test_the_senders_message_id_is_kept_byte_for_byte_and_recorded(
    gateway: Gateway, sink: Sink, tmp_path: Path
):
    # Folded, odd case in the name and the id, a comment after it: all valid (RFC 5322 §3.6.4).
    field = b"mESSAGE-iD:\r\n\t<3F2c9A.Odd+Case=x@Bounces.ACME-mail.com>  (MailWizz)\r\n"
    data = message(to="ok@example.net").replace(b"MIME-Version", field + b"MIME-Version")
    s = await logged_in(gateway.port)
    try:
        assert [r[:3] for r in await pipelined(s, "ok@example.net")] == ["250", "250", "354"]
        assert (await finish(s, data)).startswith("250")
    finally:
        await s.close()
    [received] = sink.messages
    assert received.data.count(field) == 1
    assert len(re.findall(rb"(?im)^message-id[ \t]*:", received.data)) == 1
    await gateway.rt.recorder.flush()
    [event] = [e for e in await gateway.store.recent_events() if e["kind"] == "relayed"]
    assert event["message_id"] == "<3F2c9A.Odd+Case=x@Bounces.ACME-mail.com>  (MailWizz)"


async def test_the_wait_for_a_pooled_connection_counts_in_downstream_timeout(
    tmp_path: Path, sink: Sink
):
    """One connection to a PowerMTA that is slow after DATA: the second message does
    not wait for the first's whole relay and then its own, but answers within
    downstream.timeout, so inside the sender's SMTP timeout."""
    text = config_text(tmp_path, sink.port, timeout="2").replace("pool_size: 4", "pool_size: 1")
    gw = await start_gateway_from(tmp_path, text)
    sink.delay = 10.0  # past downstream.timeout: each relay holds the one connection 2 s
    try:
        first = asyncio.create_task(send(gw.port, to="slow-data-1@example.net"))
        await until(lambda: sink.commands.count("DATA") == 1, timeout=5, what="the first DATA")
        started = time.monotonic()
        code, text = await send(gw.port, to="slow-data-2@example.net")
        waited = time.monotonic() - started
        assert (code, text[:5]) == (451, "4.4.2")
        # Before, about 4 s: 2 s for the first relay's connection, then 2 s of its own.
        assert waited < 2.0 + 1.0, f"answered after {waited:.1f}s"
        await first
    finally:
        await gw.close()


def test_only_connect_auth_and_draining_answer_421():
    """421 closes the connection: no reply a step can give mid-session may be one."""
    from gateway import replies

    four_21 = {
        name
        for name, v in vars(replies).items()
        if isinstance(v, replies.Verdict) and v.code == 421
    }
    assert four_21 == {
        "TOO_MANY_CONNECTIONS",
        "TOO_MANY_FROM_CLIENT",
        "SHUTTING_DOWN",
        "AUTH_LOCKED_OUT",
        # Only between transactions, after commands that moved no mail.
        "TOO_MANY_IDLE_COMMANDS",
    }
    # A next hop's 421 reaches the sender as a 451: the session goes on.
    assert replies.downstream_verdict(421, "4.3.2").code == 451
