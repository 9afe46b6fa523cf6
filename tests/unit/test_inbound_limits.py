"""The inbound listener takes only what Sluice hands out, in bounded amounts, over real sockets."""

import asyncio
import os
import textwrap
import time
from pathlib import Path

import aiosmtplib
import pytest

from conf import parse
from gateway.inbound import InboundListener
from policy.feedback import verp
from policy.store.inbox import FOLDERS, Inbox

SECRET = "verp-secret-0123456789"
DOMAIN = "bounce.acme-mail.com"


def settings(folder: Path, extra: str = ""):
    text = f"""
    tenants:
      - {{name: acme, pool: p, trusted_networks: [127.0.0.1/32], sender_domains: [acme-mail.com],
          bounce_domain: {DOMAIN}}}
    pools: {{p: [{{ip: 192.0.2.10, vmta: p1, hostname: mta1.example}}]}}
    feedback: {{verp_secrets: ["{SECRET}"], inbox: "{folder}/inbox", {extra}}}
    """
    return parse(textwrap.dedent(text), environ=os.environ)


@pytest.fixture
async def inbound(tmp_path, request):
    s = settings(tmp_path, getattr(request, "param", ""))
    listener = InboundListener(lambda: s, Inbox(s.feedback.inbox))
    server = await listener.start("127.0.0.1", 0)
    yield listener, server.sockets[0].getsockname()[1]
    await listener.close()
    server.close()


async def client(port: int) -> aiosmtplib.SMTP:
    c = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=10, start_tls=False)
    await c.connect()
    await c.ehlo()
    return c


def verp_address() -> str:
    origin = verp.Origin("acme", "<m@acme-mail.com>", "bob@example.net", "192.0.2.10")
    return verp.address(verp.keys_for((SECRET,)), origin, DOMAIN)


async def test_only_the_forms_sluice_issues_are_accepted(inbound):
    _, port = inbound
    c = await client(port)
    try:
        assert (await c.mail("")).code == 250
        for rcpt in (verp_address(), f"postmaster@{DOMAIN}", f"Abuse@{DOMAIN}"):
            assert (await c.rcpt(rcpt))[0] == 250, rcpt
        for rcpt in (f"ceo@{DOMAIN}", f"bounces+short@{DOMAIN}", f"unsubscribe+x@{DOMAIN}"):
            with pytest.raises(aiosmtplib.SMTPRecipientRefused) as err:
                await c.rcpt(rcpt)
            assert (err.value.code, err.value.message[:5]) == (550, "5.1.1"), rcpt
        with pytest.raises(aiosmtplib.SMTPRecipientRefused) as err:
            await c.rcpt("postmaster@elsewhere.example")
        assert err.value.code == 550 and err.value.message.startswith("5.7.1")
    finally:
        await c.quit()


@pytest.mark.parametrize("inbound", ["max_message_size: 100000"], indirect=True)
async def test_an_over_size_message_is_refused(inbound):
    _, port = inbound
    c = await client(port)
    try:
        raw = b"Subject: big\r\n\r\n" + b"x" * 200_000 + b"\r\n"
        with pytest.raises(aiosmtplib.SMTPResponseException) as err:
            await c.sendmail("", [f"postmaster@{DOMAIN}"], raw)
        assert err.value.code == 552
    finally:
        c.close()


def test_the_default_size_limit_is_sized_for_bounces(tmp_path):
    assert 1_000_000 < settings(tmp_path).feedback.max_message_size <= 16 * 1024 * 1024


@pytest.mark.parametrize("inbound", ["inbound_max_connections_per_client: 3"], indirect=True)
async def test_a_connection_flood_from_one_client_is_turned_away(inbound):
    listener, port = inbound
    held = [await client(port) for _ in range(3)]
    try:
        refused = []
        for _ in range(5):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            refused.append(await asyncio.wait_for(reader.readline(), 5))
            writer.close()
        assert all(line.startswith(b"421 4.7.0") for line in refused), refused
        assert sum(listener.per_client.values()) >= 3
    finally:
        for c in held:
            await c.quit()
    # Once they left, the client is welcome again.
    again = await client(port)
    await again.quit()


@pytest.mark.parametrize("inbound", ["inbound_messages_per_minute: 3"], indirect=True)
async def test_a_client_over_its_message_rate_is_told_to_slow_down(inbound):
    _, port = inbound
    c = await client(port)
    try:
        for _ in range(3):
            await c.sendmail("", [f"postmaster@{DOMAIN}"], b"Subject: x\r\n\r\nhi\r\n")
        with pytest.raises(aiosmtplib.SMTPSenderRefused) as err:
            await c.sendmail("", [f"postmaster@{DOMAIN}"], b"Subject: x\r\n\r\nhi\r\n")
        assert (err.value.code, err.value.message[:5]) == (450, "4.7.1")
    finally:
        await c.quit()


def test_undetermined_and_failed_are_pruned_like_done(tmp_path):
    inbox = Inbox(tmp_path / "inbox")
    inbox.ensure()
    old = time.time() - 10 * 86400
    for name in FOLDERS:
        for age, label in ((old, "old"), (time.time(), "new")):
            path = tmp_path / "inbox" / name / f"{label}.eml"
            path.write_bytes(b"x")
            os.utime(path, (age, age))
    assert inbox.prune(time.time() - 7 * 86400) == 3
    left = {n: sorted(os.listdir(tmp_path / "inbox" / n)) for n in FOLDERS}
    assert left["done"] == left["undetermined"] == left["failed"] == ["new.eml"]
    assert left["new"] == left["tmp"] == ["new.eml", "old.eml"]  # never pruned
