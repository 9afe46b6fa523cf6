"""CPU work of one client does not stall the others: large messages, scrypt.

The bounds are relative to the work's own cost, measured here, so the tests
hold on a slow or busy machine: the longest NOOP round trip on a second
connection to the daemon while a large message is tracked and signed, and
the CPU time the loop's own thread spends while 40 logins fail. The figures
are in bench/loop_lag.py.
"""

import asyncio
import base64
import smtplib
import time

import pytest

from gateway.tracking import TrackingPlan, rewrite
from policy.passwords import hash_password, verify_password
from tests.support import campaign as c
from tests.support.daemon import Daemon, free_port
from tests.support.harness import (
    PASSWORD,
    PASSWORD_HASH,
    config_text,
    make_keys,
    send,
    start_gateway_from,
)
from tests.support.rawsmtp import RawSMTP

pytestmark = pytest.mark.slow


def big_campaign(to: str, size: int) -> bytes:
    """One HTML part of ``size`` bytes, a tracked link every 200 bytes."""
    line = '<p>Spring sale <a href="https://shop.example.com/tents?id=42">tents</a> now on</p>\r\n'
    body = line.encode() * (size // len(line))
    head = (
        f"From: Acme <news@acme-mail.com>\r\nTo: <{to}>\r\nSubject: Big\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
    )
    return head.encode() + body


async def test_a_large_message_is_tracked_and_signed_off_the_loop(tmp_path):
    # The daemon in its own process, writing to an outbox: its loop alone is
    # measured, by NOOPs on a second connection while the message is handled.
    make_keys(tmp_path)
    smtp = free_port()
    text = c.tracking_config(tmp_path, 25, "https://t.acme-mail.com")
    text = text.replace('"127.0.0.1:0"', f'"127.0.0.1:{smtp}"')
    # The probe sends nothing but NOOPs for as long as it takes: no idle-command bound.
    text = text.replace(
        "max_message_size: 200000", "max_message_size: 20000000, max_idle_commands: 1000000"
    )
    text = text.replace("downstream: {", f'downstream: {{sink: "{tmp_path}/outbox", ', 1)
    admin, public = free_port(), free_port()
    text += f'http: {{admin_listen: "127.0.0.1:{admin}", public_listen: "127.0.0.1:{public}"}}\n'
    (tmp_path / "sluice.yaml").write_text(text)
    data = big_campaign("big@example.net", 6_000_000)
    started = time.thread_time()
    rewrite(data, TrackingPlan(base_url="https://t.x", make_token=lambda *_: "t"))
    rewriting = time.thread_time() - started  # what the old inline path held the loop for
    d = await Daemon.start(["run", "-c", str(tmp_path / "sluice.yaml")], cwd=tmp_path)
    try:
        probe = await RawSMTP.open(smtp)
        await probe.cmd(b"EHLO probe")
        sending = asyncio.ensure_future(asyncio.to_thread(send_blocking, smtp, data))
        worst = 0.0
        while not sending.done():
            before = time.monotonic()
            assert (await probe.cmd(b"NOOP")).startswith("250")
            worst = max(worst, time.monotonic() - before)
        await sending
        [written] = list((tmp_path / "outbox").glob("*.eml"))
        assert b"t.acme-mail.com/t/c/" in written.read_bytes()  # tracked and relayed
        assert worst < rewriting, (worst, rewriting)
        await probe.close()
    finally:
        await d.stop()


def send_blocking(port: int, data: bytes) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as client:
        client.login("mailwizz-acme", PASSWORD)
        client.sendmail("news@acme-mail.com", ["big@example.net"], data)


async def test_failed_logins_are_checked_off_the_loop(tmp_path, sink):
    real_cost = hash_password(PASSWORD)  # the production cost
    text = config_text(tmp_path, sink.port).replace(PASSWORD_HASH, real_cost)
    text = text.replace("auth_failure_limit: 3", "auth_failure_limit: 1000")
    gw = await start_gateway_from(tmp_path, text)
    try:
        started = time.thread_time()
        assert not verify_password("wrong", real_cost)
        one_check = time.thread_time() - started

        async def fail_once() -> str:
            s = await RawSMTP.open(gw.port)
            await s.cmd(b"EHLO t")
            reply = await s.cmd(b"AUTH PLAIN " + base64.b64encode(b"\0mailwizz-acme\0wrong"))
            await s.close()
            return reply

        # This thread runs the loop (gateway and clients alike); the checks' own
        # CPU time is spent elsewhere or it was spent here. CPU time, unlike a
        # stall measured on the clock, does not depend on the machine's load.
        on_loop = time.thread_time()
        replies = await asyncio.gather(*(fail_once() for _ in range(40)))
        on_loop = time.thread_time() - on_loop
        assert all(r.startswith("535") for r in replies), replies
        # Inline, the loop's thread would have done all 40 checks (40 times one); the 40
        # sessions' own SMTP work on both ends, a collection or two, stay well under 20.
        assert on_loop < 20 * one_check, (on_loop, one_check)
        # The right password still works.
        assert (await send(gw.port))[0] == 250
    finally:
        await gw.close()
