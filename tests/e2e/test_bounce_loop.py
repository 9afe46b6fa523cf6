"""The bounce loop closed end to end, through the daemon as operators run it.

A message relayed with a VERP sender; a DSN for it sent over SMTP to the
inbound listener, a PowerMTA accounting record for it (a tailed file that is
appended, rotated and re-read after a restart) or the same record posted to
the webhook; the recipient suppressed, the next RCPT refused.
"""

import asyncio
import json
import signal
from pathlib import Path

import aiohttp
import aiosmtplib
import pytest

from policy.store.sqlite import SqliteStore
from tests.support.acct import HEADER
from tests.support.acct import line as acct_line
from tests.support.daemon import Daemon, free_port
from tests.support.feedback import dsn
from tests.support.harness import config_text, make_keys, send

pytestmark = pytest.mark.slow
SECRET = "verp-secret-e2e-0123456789"
HOOK_TOKEN = "hook-secret-0123456789abcdef0123456789"


def write_config(folder: Path, sink_port: int, extra: str = "") -> tuple[Path, int, int, int]:
    smtp, inbound, admin = free_port(), free_port(), free_port()
    text = config_text(folder, sink_port).replace('"127.0.0.1:0"', f'"127.0.0.1:{smtp}"')
    text = text.replace("smtp: {", f'smtp: {{inbound_listen: "127.0.0.1:{inbound}", ', 1).replace(
        "    sender_domains: [acme-mail.com]\n",
        "    sender_domains: [acme-mail.com]\n    bounce_domain: bounce.acme-mail.com\n",
        1,
    )
    text += (
        f'http: {{admin_listen: "127.0.0.1:{admin}", public_listen: "127.0.0.1:{free_port()}"}}\n'
        f'feedback: {{verp_secrets: ["{SECRET}"], inbox: "{folder}/inbox", poll_interval: 0.1,'
        f" {extra}}}\n"
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


async def relay_verp(smtp: int, sink, rcpt: str) -> str:
    """Relay one message to ``rcpt``; the VERP sender the sink saw."""
    assert (await send(smtp, to=rcpt))[0] == 250
    return sink.by_recipient(rcpt)[-1].mail_from


async def feedback_events(folder: Path) -> list[tuple[str, str]]:
    store = SqliteStore(str(folder / "sluice.db"))
    await store.open()
    try:
        events = await store.recent_events(1000)
    finally:
        await store.close()
    kinds = ("bounced", "complained", "delayed")
    return sorted((e["kind"], e["recipients"]) for e in events if e["kind"] in kinds)


async def test_accounting_file_appended_rotated_and_reread_after_a_restart(tmp_path, sink):
    make_keys(tmp_path)
    pmta = tmp_path / "pmta"
    pmta.mkdir()
    path, smtp, _, _ = write_config(tmp_path, sink.port, f'accounting_folder: "{pmta}"')
    current = pmta / "acct.csv"
    d = await Daemon.start(["run", "-c", str(path)], cwd=tmp_path)
    try:
        orig = await relay_verp(smtp, sink, "a@example.net")
        current.write_text(HEADER + "\n" + acct_line("d", "ok@example.net", orig=orig))
        with current.open("a") as f:  # appended while the daemon tails it
            f.write(acct_line("b", "a@example.net", orig=orig))
        assert (await refused_within(smtp, "a@example.net", 3.0))[0] == 550
        orig = await relay_verp(smtp, sink, "b@example.net")
        with current.open("a") as f:
            f.write(acct_line("b", "b@example.net", orig=orig))
        current.rename(pmta / "acct-2026-11-20-1000.csv")  # PowerMTA moves it away
        slow = await relay_verp(smtp, sink, "slow@example.net")
        current.write_text(HEADER + "\n" + acct_line("t", "slow@example.net", orig=slow))
        assert (await refused_within(smtp, "b@example.net", 3.0))[0] == 550
        d.signal(signal.SIGTERM)
        assert await d.wait() == 0
        d = await Daemon.start(["run", "-c", str(path)], cwd=tmp_path)
        orig = await relay_verp(smtp, sink, "c@example.net")
        with current.open("a") as f:
            f.write(acct_line("b", "c@example.net", orig=orig))
        # Once c is refused the restarted tailer has been over every file.
        assert (await refused_within(smtp, "c@example.net", 3.0))[0] == 550
    finally:
        await d.stop()
    assert await feedback_events(tmp_path) == [
        ("bounced", "a@example.net"),
        ("bounced", "b@example.net"),
        ("bounced", "c@example.net"),
        ("delayed", "slow@example.net"),
    ]


async def test_powermta_webhook_takes_ndjson_behind_a_bearer_token(tmp_path, sink):
    make_keys(tmp_path)
    path, smtp, _, admin = write_config(tmp_path, sink.port, f'webhook_token: "{HOOK_TOKEN}"')
    d = await Daemon.start(["run", "-c", str(path)], cwd=tmp_path)
    url = f"http://127.0.0.1:{admin}/api/webhooks/powermta"
    try:
        orig = await relay_verp(smtp, sink, "hooked@example.net")
        records = [
            {"type": "d", "rcpt": "fine@example.net", "orig": orig},
            {
                "type": "b",
                "rcpt": "hooked@example.net",
                "orig": orig,
                "dsnStatus": "5.1.1",
                "dsnDiag": "smtp;550 5.1.1 user unknown",
                "bounceCat": "bad-mailbox",
            },
        ]
        body = "\n".join(json.dumps(r) for r in records)
        async with aiohttp.ClientSession() as http:
            async with http.post(url, data=body) as resp:
                assert resp.status == 401
            auth = {"Authorization": f"Bearer {HOOK_TOKEN}"}
            async with http.post(url, data=b"{not json", headers=auth) as resp:
                assert resp.status == 400
            async with http.post(url, data=body, headers=auth) as resp:
                assert resp.status == 200
                assert await resp.json() == {"records": 2, "feedback": 1}
        code, text = await refused_within(smtp, "hooked@example.net", 3.0)
        assert (code, text[:5]) == (550, "5.7.1")
    finally:
        await d.stop()
