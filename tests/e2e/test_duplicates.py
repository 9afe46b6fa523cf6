"""Duplicates the log would not show: a copy sent after its sender left, a stop after the dot.

A sender that heard no 250 sends the message again. So a copy may go
downstream only while its sender still waits for the answer, within
``downstream.timeout`` (the wait for a pooled connection included); and a
relay stopped after its final dot is ``possible_duplicate``, its quota kept.
"""

import asyncio
import base64
import logging
import time
from datetime import UTC, datetime

import pytest

from tests.support.harness import (
    PASSWORD,
    config_text,
    message,
    send,
    start_gateway_from,
    with_pools,
)
from tests.support.rawsmtp import RawSMTP
from tests.support.wait import until

pytestmark = pytest.mark.slow
NOW = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
ONE_IP = """
pools:
  acme:
    - {ip: 192.0.2.10, vmta: acme-1, hostname: mta1.acme-mail.com, daily_limit: 500}
"""


def one_connection(tmp_path, sink, timeout: str) -> str:
    """A pool of one connection to the sink, so a stalled message holds it."""
    return config_text(tmp_path, sink.port, timeout=timeout).replace("pool_size: 4", "pool_size: 1")


async def data_then_hang_up(port: int, to: str) -> None:
    s = await RawSMTP.open(port)
    await s.cmd(b"EHLO t")
    auth = base64.b64encode(b"\0mailwizz-acme\0" + PASSWORD.encode())
    assert (await s.cmd(b"AUTH PLAIN " + auth)).startswith("235")
    assert (await s.cmd(b"MAIL FROM:<news@acme-mail.com>")).startswith("250")
    assert (await s.cmd(f"RCPT TO:<{to}>".encode())).startswith("250")
    assert (await s.cmd(b"DATA")).startswith("354")
    s.writer.write(message(to=to) + b"\r\n.\r\n")
    await s.writer.drain()
    await s.close()


def outcomes(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "sluice.transaction"]


async def test_a_message_whose_sender_left_while_it_waited_is_not_sent(tmp_path, sink, caplog):
    caplog.set_level(logging.INFO, logger="sluice.transaction")
    sink.delay = 2.0
    gw = await start_gateway_from(tmp_path, one_connection(tmp_path, sink, timeout="10"))
    try:
        first = asyncio.ensure_future(send(gw.port, to="slow-data@example.net"))
        await until(lambda: "DATA" in sink.commands, what="the first message at the dot")
        # The second waits for the only connection; its sender gives up meanwhile.
        await data_then_hang_up(gw.port, "left@example.net")
        assert (await first)[0] == 250
        [left] = await until(
            lambda: [x for x in outcomes(caplog) if "to=<left@example.net>" in x],
            timeout=10,
            what="the second transaction recorded",
        )
        assert "outcome=deferred" in left, left
        assert sink.by_recipient("left@example.net") == []
        assert [m.recipients for m in sink.messages] == [["slow-data@example.net"]]
    finally:
        await gw.close()


async def test_the_wait_for_a_connection_counts_in_downstream_timeout(tmp_path, sink):
    # Each message holds PowerMTA's dot 1.2 s: the second gets the connection at
    # about 1.2 s and would be answered at 2.4 s, past its 1.5 s downstream.timeout,
    # after a sender whose own timer is armed with it may have given up.
    sink.delay = 1.2
    gw = await start_gateway_from(tmp_path, one_connection(tmp_path, sink, timeout="1.5"))
    try:
        first = asyncio.ensure_future(send(gw.port, to="slow-data-1@example.net"))
        await until(lambda: "DATA" in sink.commands, what="the first message at the dot")
        started = time.monotonic()
        code, reply = await send(gw.port, to="slow-data-2@example.net")
        waited = time.monotonic() - started
        assert (await first)[0] == 250
        assert waited < 1.5 + 0.6, (waited, code, reply)
        assert code == 451, reply  # nothing claimed that PowerMTA did not answer
    finally:
        await gw.close()


async def test_a_relay_stopped_after_the_dot_is_a_possible_duplicate_that_keeps_its_quota(
    tmp_path, sink, caplog
):
    caplog.set_level(logging.INFO, logger="sluice.transaction")
    sink.delay = 5.0
    text = with_pools(config_text(tmp_path, sink.port, timeout="10"), ONE_IP)
    gw = await start_gateway_from(tmp_path, text, clock=lambda: NOW)
    day = f"day:192.0.2.10:{NOW.date().isoformat()}"
    try:
        inflight = asyncio.ensure_future(send(gw.port, to="slow-data@example.net"))
        await until(lambda: "DATA" in sink.commands, what="the message at the dot")
        assert await gw.rt.counters.usage([day]) == {day: 1}
        assert not await gw.listener.drain(0.1)  # SIGTERM, and the drain runs out
        [answer] = await asyncio.gather(inflight, return_exceptions=True)
        assert isinstance(answer, Exception) or answer[0] != 250, answer  # the client heard no 250
        [outcome] = outcomes(caplog)
        assert "outcome=possible_duplicate" in outcome, outcome
        # PowerMTA may have it: its unit stays taken.
        assert await gw.rt.counters.usage([day]) == {day: 1}
    finally:
        await gw.close()


async def test_a_message_relayed_after_its_sender_left_is_a_possible_duplicate(
    tmp_path, sink, caplog
):
    # The sender hangs up while PowerMTA thinks about the dot; PowerMTA then takes it.
    # The sender heard no 250 and will send it again: the log must not say plain relayed.
    caplog.set_level(logging.INFO, logger="sluice.transaction")
    sink.delay = 1.0
    gw = await start_gateway_from(tmp_path, one_connection(tmp_path, sink, timeout="10"))
    try:
        s = await RawSMTP.open(gw.port)
        await s.cmd(b"EHLO t")
        auth = base64.b64encode(b"\0mailwizz-acme\0" + PASSWORD.encode())
        assert (await s.cmd(b"AUTH PLAIN " + auth)).startswith("235")
        assert (await s.cmd(b"MAIL FROM:<news@acme-mail.com>")).startswith("250")
        assert (await s.cmd(b"RCPT TO:<slow-data@example.net>")).startswith("250")
        assert (await s.cmd(b"DATA")).startswith("354")
        s.writer.write(message(to="slow-data@example.net") + b"\r\n.\r\n")
        await s.writer.drain()
        await until(lambda: "DATA" in sink.commands, what="the message at the sink's dot")
        await s.close()
        [line] = await until(
            lambda: [x for x in outcomes(caplog) if "to=<slow-data@example.net>" in x],
            timeout=10,
            what="the transaction recorded",
        )
        assert "outcome=possible_duplicate" in line, line
        assert "downstream='250" in line, line
        assert [m.recipients for m in sink.messages] == [["slow-data@example.net"]]
    finally:
        await gw.close()
