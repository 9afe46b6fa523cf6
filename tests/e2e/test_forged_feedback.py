"""Forged feedback acts on nothing, through the daemon as operators run it.

A VERP token binds the one recipient it was issued for and expires; a DSN or
complaint about any other address is unmatched: no suppression, no IP rate.
"""

import asyncio
import os
import time
from pathlib import Path

import aiohttp
import aiosmtplib
import pytest

from conf import ConfigError, parse
from policy.store.sqlite import SqliteStore
from policy.tokens import TokenKeys, issue
from tests.e2e.test_bounce_loop import write_config
from tests.support.daemon import Daemon
from tests.support.feedback import arf
from tests.support.harness import PASSWORD, make_keys, message, send

pytestmark = pytest.mark.slow
SECRET = "verp-secret-e2e-0123456789"
ONE_IP = "pools:\n  acme:\n    - {ip: 192.0.2.10, vmta: acme-1, hostname: mta1.acme-mail.com}\n"


def one_ip(path: Path) -> None:
    text = path.read_text()
    head, _, rest = text.partition("\npools:\n")
    tail = rest[rest.index("\nhttp:") :]  # the pools block ends where http: starts
    path.write_text(head + "\n" + ONE_IP + tail.lstrip("\n"))


def multi_dsn(to: str, recipients: list[str]) -> bytes:
    """One DSN with a failed report for each of ``recipients``."""
    blocks = "".join(
        f"Final-Recipient: rfc822; {r}\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        f"Diagnostic-Code: smtp; 550 5.1.1 <{r}>: user unknown\r\n\r\n"
        for r in recipients
    )
    b = "BOUNDARY-x"
    return (
        f"From: MAILER-DAEMON@mx.example.net\r\nTo: {to}\r\nSubject: Undelivered\r\n"
        "MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status;"
        f' boundary="{b}"\r\n'
        f"\r\n--{b}\r\nContent-Type: text/plain\r\n\r\nfailed\r\n"
        f"--{b}\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.net\r\n\r\n"
        f"{blocks}--{b}--\r\n"
    ).encode()


async def deliver(inbound: int, rcpt: str, raw: bytes, sender: str = "<>") -> None:
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=inbound, timeout=10, start_tls=False)
    await client.connect()
    await client.ehlo()
    assert (await client.execute_command(b"MAIL", f"FROM:{sender}".encode())).code == 250
    assert (await client.rcpt(rcpt))[0] == 250
    assert (await client.data(raw))[0] == 250
    await client.quit()


async def processed(folder: Path, count: int, seconds: float = 10.0) -> None:
    """Poll until ``count`` inbox items left new/."""
    inbox = folder / "inbox"
    for _ in range(int(seconds / 0.1)):
        new = os.listdir(inbox / "new") if (inbox / "new").exists() else []
        out = sum(
            len(os.listdir(inbox / d)) for d in ("done", "undetermined") if (inbox / d).exists()
        )
        if not new and out >= count:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"inbox not processed: {os.listdir(inbox / 'new')}")


async def suppressed(folder: Path, addresses: list[str]) -> list[str]:
    store = SqliteStore(str(folder / "sluice.db"))
    await store.open()
    try:
        found = await store.suppression_entries("acme", addresses)
    finally:
        await store.close()
    return sorted(found)


async def test_a_forged_dsn_naming_50_addresses_suppresses_none(tmp_path, sink):
    make_keys(tmp_path)
    path, smtp, inbound, _ = write_config(tmp_path, sink.port)
    d = await Daemon.start(["run", "-c", str(path)], cwd=tmp_path)
    victims = [f"victim{i}@example.org" for i in range(50)]
    try:
        # A transaction with two recipients.
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=smtp, timeout=10, start_tls=False)
        await client.connect()
        await client.login("mailwizz-acme", PASSWORD)
        rcpts = ["a@example.net", "b@example.net"]
        await client.sendmail("news@acme-mail.com", rcpts, message(to="a@example.net"))
        await client.quit()
        shared_sender = sink.by_recipient("a@example.net")[-1].mail_from
        assert (await send(smtp, to="one@example.net"))[0] == 250
        single = sink.by_recipient("one@example.net")[-1].mail_from

        # The shared return path a multi-recipient transaction had (if it has one), and a
        # token of the earlier format naming no recipient, as such transactions once got.
        legacy = issue(
            TokenKeys([SECRET]), "verp", "acme", "<m@acme-mail.com>", "", url="192.0.2.10"
        )
        targets = [f"bounces+{legacy}@bounce.acme-mail.com", single]
        if shared_sender.startswith("bounces+"):
            targets.append(shared_sender)
        for to in targets:
            await deliver(inbound, to, multi_dsn(to, victims))
        await processed(tmp_path, len(targets))
        assert await suppressed(tmp_path, [*victims, "one@example.net", *rcpts]) == []
        assert (await send(smtp, to="victim7@example.org"))[0] == 250
    finally:
        await d.stop()


async def test_verp_local_parts_fit_64_octets_and_multi_recipient_mail_keeps_its_sender(
    tmp_path, sink
):
    make_keys(tmp_path)
    path, smtp, _, _ = write_config(tmp_path, sink.port)
    d = await Daemon.start(["run", "-c", str(path)], cwd=tmp_path)
    try:
        rcpt = "a-rather-long-recipient.name+tag@subdomain.example-provider.net"
        assert (await send(smtp, to=rcpt))[0] == 250
        local = sink.by_recipient(rcpt)[-1].mail_from.rpartition("@")[0]
        assert local.startswith("bounces+") and len(local.encode()) <= 64, local
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=smtp, timeout=10, start_tls=False)
        await client.connect()
        await client.login("mailwizz-acme", PASSWORD)
        rcpts = ["a@example.net", "b@example.net"]
        await client.sendmail("news@acme-mail.com", rcpts, message(to="a@example.net"))
        await client.quit()
        # One return path cannot bind two recipients: the sender's own is kept.
        assert sink.by_recipient("a@example.net")[-1].mail_from == "news@acme-mail.com"
    finally:
        await d.stop()


async def test_thirty_forged_complaints_do_not_quarantine_the_ip(tmp_path, sink):
    make_keys(tmp_path)
    extra = "health: {min_sample: 1, interval: 0.1}"
    path, smtp, inbound, _ = write_config(tmp_path, sink.port, extra)
    one_ip(path)
    d = await Daemon.start(["run", "-c", str(path)], cwd=tmp_path)
    try:
        assert (await send(smtp, to="bob@example.net"))[0] == 250
        verp_sender = sink.by_recipient("bob@example.net")[-1].mail_from
        for i in range(30):
            raw = arf("fbl@bounce.acme-mail.com", f"stranger{i}@example.org", verp_sender)
            await deliver(inbound, "postmaster@bounce.acme-mail.com", raw, "<fbl@provider.example>")
        await processed(tmp_path, 30)
        # The health watch runs every 0.1 s: give it rounds enough to have judged.
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            code, text = await send(smtp, to="next@example.net")
            assert code == 250, (code, text, "\n".join(d.log[-20:]))
            await asyncio.sleep(0.2)
        assert await suppressed(tmp_path, ["bob@example.net"]) == []
    finally:
        await d.stop()


async def test_an_expired_token_acts_on_nothing(tmp_path, sink):
    make_keys(tmp_path)
    path, _, inbound, _ = write_config(tmp_path, sink.port)
    d = await Daemon.start(["run", "-c", str(path)], cwd=tmp_path)
    try:
        keys = TokenKeys([SECRET])
        month_ago = int(time.time()) - 31 * 86400
        stale = issue(
            keys,
            "verp",
            "acme",
            "<m@acme-mail.com>",
            "old@example.net",
            url="192.0.2.10",
            issued_at=month_ago,
        )
        fresh = issue(
            keys, "verp", "acme", "<n@acme-mail.com>", "new@example.net", url="192.0.2.10"
        )
        for rcpt, text in (("old@example.net", stale), ("new@example.net", fresh)):
            to = f"bounces+{text}@bounce.acme-mail.com"
            await deliver(inbound, to, multi_dsn(to, [rcpt]))
        await processed(tmp_path, 2)
        # The fresh one (same format, same secret) acts: the stale one only because of its age.
        assert await suppressed(tmp_path, ["old@example.net", "new@example.net"]) == [
            "new@example.net"
        ]
    finally:
        await d.stop()


def test_check_config_refuses_a_short_webhook_token():
    with pytest.raises(ConfigError) as err:
        parse('feedback: {webhook_token: "hook-secret"}\n', environ={})
    assert any(
        p.startswith("feedback.webhook_token: must be at least 32") for p in err.value.problems
    )


async def test_the_webhook_brakes_a_client_that_keeps_sending_wrong_tokens(tmp_path, sink):
    make_keys(tmp_path)
    token = "hook-" + "x" * 40
    path, _, _, admin = write_config(tmp_path, sink.port, f'webhook_token: "{token}"')
    d = await Daemon.start(["run", "-c", str(path)], cwd=tmp_path)
    url = f"http://127.0.0.1:{admin}/api/webhooks/powermta"
    try:
        async with aiohttp.ClientSession() as http:
            statuses = []
            for i in range(8):  # http.auth_failure_limit is 5
                bad = {"Authorization": f"Bearer guess-{i}"}
                async with http.post(url, data=b"[]", headers=bad) as resp:
                    statuses.append(resp.status)
            assert statuses == [401] * 5 + [429] * 3, statuses
            good = {"Authorization": f"Bearer {token}"}
            async with http.post(url, data=b"[]", headers=good) as resp:
                assert resp.status == 429 and int(resp.headers["Retry-After"]) > 0
    finally:
        await d.stop()
