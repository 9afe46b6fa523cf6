"""SMTP smuggling (CVE-2023-51764 family): only CRLF.CRLF ends DATA, in either mode."""

import base64
import re
from pathlib import Path

import pytest

from tests.support.harness import PASSWORD, start_gateway
from tests.support.rawsmtp import RawSMTP

ENDINGS = [
    b"\n.\n",
    b"\r.\r",
    b"\r.\n",
    b"\n.\r",
    b"\n.\r\n",
    b"\r\n.\n",
    b"\r.\r\n",
    b"\r\n.\r",
    b"\r\n\x00.\r\n",
]
SMUGGLED = (
    b"MAIL FROM:<evil@acme-mail.com>\r\nRCPT TO:<victim@example.net>\r\nDATA\r\n"
    b"From: evil@acme-mail.com\r\nSubject: smuggled\r\n\r\nx\r\n.\r\n"
)
AUTH = base64.b64encode(b"\0mailwizz-acme\0" + PASSWORD.encode())
BARE = re.compile(rb"\r(?!\n)|(?<!\r)\n")


@pytest.mark.parametrize("mode", ["normalize", "reject"])
@pytest.mark.parametrize("ending", ENDINGS, ids=lambda e: e.hex())
async def test_fake_end_of_data_is_not_end_of_data(tmp_path: Path, sink, mode, ending):
    gw = await start_gateway(tmp_path, sink.port, line_endings=mode)
    try:
        s = await RawSMTP.open(gw.port)
        await s.cmd(b"EHLO t")
        assert (await s.cmd(b"AUTH PLAIN " + AUTH)).startswith("235")
        assert (await s.cmd(b"MAIL FROM:<news@acme-mail.com>")).startswith("250")
        assert (await s.cmd(b"RCPT TO:<b@example.net>")).startswith("250")
        assert (await s.cmd(b"DATA")).startswith("354")
        reply = await s.send_raw(
            b"From: news@acme-mail.com\r\nSubject: one\r\n\r\nbody" + ending + SMUGGLED
        )
        await s.close()
    finally:
        await gw.close()
    assert len(sink.messages) <= 1
    assert all(m.mail_from == "news@acme-mail.com" for m in sink.messages)
    assert all(m.recipients == ["b@example.net"] for m in sink.messages)
    assert not any(BARE.search(m.data) for m in sink.messages)
    if mode == "reject" and BARE.search(ending):
        assert reply.startswith("550 5.5.2") and sink.messages == []
    else:
        assert reply.startswith("250") and len(sink.messages) == 1
