"""Slowloris and friends: clients that hold a connection slot without sending mail."""

from __future__ import annotations

import asyncio
import base64

from tests.support.harness import PASSWORD, start_gateway
from tests.support.rawsmtp import RawSMTP

LIMITS = ", pre_mail_timeout: 0.5, max_idle_commands: 3, greeting_delay: 0.3"
AUTH = b"AUTH PLAIN " + base64.b64encode(b"\0mailwizz-acme\0" + PASSWORD.encode())


async def closed(client: RawSMTP, within: float = 5.0) -> bool:
    try:
        return await asyncio.wait_for(client.reader.read(), within) == b""
    except TimeoutError:
        return False


async def test_a_session_that_never_sends_mail_is_cut_early(tmp_path, sink):
    # The idle timer (smtp.timeout) is 2 s here; before AUTH or MAIL it is 0.5 s.
    gw = await start_gateway(tmp_path, sink.port, smtp_extra=LIMITS)
    try:
        lazy = await RawSMTP.open(gw.port)
        assert (await lazy.cmd(b"EHLO trickle")).startswith("250")
        working = await RawSMTP.open(gw.port)
        assert (await working.cmd(b"EHLO mailwizz")).startswith("250")
        assert (await working.cmd(AUTH)).startswith("235")
        assert await closed(lazy, within=1.5)
        # An authenticated session keeps the normal timer.
        await asyncio.sleep(1.0)
        assert (await working.cmd(b"MAIL FROM:<news@acme-mail.com>")).startswith("250")
        await working.close()
    finally:
        await gw.close()


async def test_noop_and_rset_alone_end_the_session(tmp_path, sink):
    gw = await start_gateway(tmp_path, sink.port, smtp_extra=LIMITS)
    try:
        client = await RawSMTP.open(gw.port)
        assert (await client.cmd(b"EHLO t")).startswith("250")
        assert (await client.cmd(AUTH)).startswith("235")
        assert (await client.cmd(b"NOOP")).startswith("250")
        assert (await client.cmd(b"RSET")).startswith("250")
        assert (await client.cmd(b"NOOP")).startswith("421 4.7.0")
        assert await closed(client)
        # Mail in between starts the count again: a long sending session is not cut.
        busy = await RawSMTP.open(gw.port)
        assert (await busy.cmd(b"EHLO t")).startswith("250")
        assert (await busy.cmd(AUTH)).startswith("235")
        for _ in range(3):
            assert (await busy.cmd(b"MAIL FROM:<news@acme-mail.com>")).startswith("250")
            assert (await busy.cmd(b"RSET")).startswith("250")
            assert (await busy.cmd(b"NOOP")).startswith("250")
        await busy.close()
    finally:
        await gw.close()


async def test_a_client_that_talks_before_the_greeting_is_refused(tmp_path, sink):
    gw = await start_gateway(tmp_path, sink.port, smtp_extra=LIMITS)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
        writer.write(b"EHLO blind\r\nMAIL FROM:<news@acme-mail.com>\r\n")
        await writer.drain()
        first = await asyncio.wait_for(reader.readline(), 5)
        assert first.startswith(b"554 5.5.1")
        assert await asyncio.wait_for(reader.read(), 5) == b""
        writer.close()
        # A client that waits for the greeting is served.
        polite = await RawSMTP.open(gw.port)
        assert (await polite.cmd(b"EHLO polite")).startswith("250")
        await polite.close()
    finally:
        await gw.close()
