"""The bounce loop closed end to end, through the daemon as operators run it.

A message relayed with a VERP sender, a DSN for it sent over SMTP to the
inbound listener, the recipient suppressed, the next RCPT refused.
"""

import asyncio
from pathlib import Path

import aiosmtplib
import pytest

from tests.support.daemon import Daemon, free_port
from tests.support.feedback import dsn
from tests.support.harness import config_text, make_keys, send

pytestmark = pytest.mark.slow
SECRET = "verp-secret-e2e-0123456789"


def write_config(folder: Path, sink_port: int) -> tuple[Path, int, int, int]:
    smtp, inbound, admin = free_port(), free_port(), free_port()
    text = config_text(folder, sink_port).replace('"127.0.0.1:0"', f'"127.0.0.1:{smtp}"')
    text = text.replace("smtp: {", f'smtp: {{inbound_listen: "127.0.0.1:{inbound}", ', 1).replace(
        "    sender_domains: [acme-mail.com]\n",
        "    sender_domains: [acme-mail.com]\n    bounce_domain: bounce.acme-mail.com\n",
        1,
    )
    text += (
        f'http: {{admin_listen: "127.0.0.1:{admin}", public_listen: "127.0.0.1:{free_port()}"}}\n'
        f'feedback: {{verp_secrets: ["{SECRET}"], inbox: "{folder}/inbox", poll_interval: 0.1}}\n'
    )
    path = folder / "sluice.yaml"
    path.write_text(text)
    return path, smtp, inbound, admin


async def refused_within(port: int, rcpt: str, seconds: float) -> tuple[int, str]:
    """Poll RCPT until it is refused; the last (code, text)."""
    result = (0, "")
    for _ in range(int(seconds / 0.25)):
        result = await send(port, to=rcpt)
        if result[0] != 250:
            return result
        await asyncio.sleep(0.25)
    return result


async def test_dsn_to_the_verp_sender_suppresses_the_recipient(tmp_path, sink):
    make_keys(tmp_path)
    path, smtp, inbound, _ = write_config(tmp_path, sink.port)
    d = await Daemon.start(["run", "-c", str(path)], cwd=tmp_path)
    try:
        assert (await send(smtp, to="gone@example.net"))[0] == 250
        (relayed,) = sink.messages
        verp_sender = relayed.mail_from
        assert verp_sender.startswith("bounces+") and verp_sender.endswith("@bounce.acme-mail.com")

        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=inbound, timeout=10, start_tls=False)
        await client.connect()
        await client.ehlo()
        assert (await client.execute_command(b"MAIL", b"FROM:<>")).code == 250
        code, _ = await client.rcpt(verp_sender)
        assert code == 250
        code, _ = await client.data(dsn(verp_sender, "gone@example.net"))
        assert code == 250
        await client.quit()

        code, text = await refused_within(smtp, "gone@example.net", 3.0)
        assert (code, text[:5]) == (550, "5.7.1"), (code, text, "\n".join(d.log[-20:]))
        relayed_so_far = len(sink.messages)
        assert (await send(smtp, to="GONE@example.net"))[0] == 550  # stays refused, any case
        assert len(sink.messages) == relayed_so_far
        assert (await send(smtp, to="other@example.net"))[0] == 250  # others still flow
    finally:
        await d.stop()
