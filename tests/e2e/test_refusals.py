"""Refusals before DATA leave a trace: a log line each, an event per refused recipient.

Quota 451, suppressed 550, foreign sender 550 and AUTH-required 530 over
real SMTP; the events are read back through GET /api/events. Each
transaction has its own id, also when several share one connection.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from pathlib import Path

import aiosmtplib
import pytest

from policy.suppression import Suppression
from tests.support.admin_api import serve_admin
from tests.support.harness import (
    PASSWORD,
    Gateway,
    config_text,
    message,
    send,
    start_gateway_from,
    with_pools,
)
from tests.support.sink import Sink
from tests.support.wait import until

NOW = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
ONE_A_DAY = """
pools:
  acme:
    - {ip: 192.0.2.10, vmta: acme-1, hostname: mta1.acme-mail.com, daily_limit: 1}
"""


@pytest.fixture
async def gw(tmp_path: Path, sink: Sink):
    text = with_pools(config_text(tmp_path, sink.port), ONE_A_DAY)
    gateway = await start_gateway_from(tmp_path, text, clock=lambda: NOW)
    yield gateway
    await gateway.close()


def refusal_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "sluice.transaction" and " refused " in r.getMessage()
    ]


async def refused_events(gw: Gateway) -> list[dict]:
    await gw.rt.recorder.flush()
    async with serve_admin(gw.rt.settings, gw.store) as admin, admin.session() as http:
        async with http.get("/api/events", params={"kind": "refused"}) as response:
            assert response.status == 200
            return (await response.json())["items"]


async def test_each_refusal_is_logged_and_each_refused_recipient_is_an_event(
    gw: Gateway, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.INFO, logger="sluice.transaction")
    await gw.store.suppress([Suppression("acme", "gone@example.net", "hard_bounce", "dsn")])
    await until(lambda: gw.rt.policy.suppression.check("acme", "gone@example.net"))
    assert (await send(gw.port, to="first@example.net"))[0] == 250  # the day's one message
    assert (await send(gw.port, to="second@example.net"))[0] == 451  # quota
    assert (await send(gw.port, to="gone@example.net"))[0] == 550  # suppressed
    assert (await send(gw.port, sender="news@foreign.example"))[0] == 550  # not acme's domain
    assert (await send(gw.port, login=False))[0] == 530  # no AUTH, not a trusted network

    lines = refusal_lines(caplog)
    expected = [
        ("rcpt.warmup_quota", 451, "acme", "news@acme-mail.com", "second@example.net"),
        ("rcpt.suppression", 550, "acme", "news@acme-mail.com", "gone@example.net"),
        ("mail.sender_domain", 550, "acme", "news@foreign.example", ""),
        ("mail.authenticated", 530, "-", "news@acme-mail.com", ""),
    ]
    assert len(lines) == len(expected), lines
    for line, (step, code, tenant, sender, rcpt) in zip(lines, expected, strict=True):
        assert f"step={step} code={code} tenant={tenant} client=127.0.0.1" in line
        assert f"from=<{sender}> to=<{rcpt}>" in line

    events = sorted(await refused_events(gw), key=lambda e: e["at"])
    assert [(e["step"], e["recipients"], e["tenant"]) for e in events] == [
        ("rcpt.warmup_quota", ["second@example.net"], "acme"),
        ("rcpt.suppression", ["gone@example.net"], "acme"),
    ]
    quota, suppressed = events
    assert quota["reply"].startswith("451 4.7.1") and suppressed["reply"].startswith("550 5.7.1")
    assert {e["client"] for e in events} == {"127.0.0.1"}
    assert {e["mail_from"] for e in events} == {"news@acme-mail.com"}
    # The event and the log line name the same transaction.
    assert f"tx={quota['tx']} refused" in lines[0]


async def test_two_transactions_on_one_connection_have_their_own_ids(
    gw: Gateway, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.INFO, logger="sluice.transaction")
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=gw.port, start_tls=False)
    await client.connect()
    await client.login("mailwizz-acme", PASSWORD)
    await client.sendmail("news@acme-mail.com", ["a@example.net"], message(to="a@example.net"))
    with pytest.raises(aiosmtplib.SMTPRecipientsRefused):  # over the daily limit of one
        await client.sendmail("news@acme-mail.com", ["b@example.net"], message(to="b@example.net"))
    await client.quit()
    ids = [
        m[1]
        for r in caplog.records
        if r.name == "sluice.transaction" and (m := re.match(r"tx=(\S+) ", r.getMessage()))
    ]
    assert len(ids) == 2 and ids[0] != ids[1], ids
    session = ids[0].rsplit(".", 1)[0]
    assert ids[1].startswith(session + ".")  # same connection, told apart by number
    await gw.rt.recorder.flush()
    kinds = {e["kind"]: e["tx"] for e in await gw.store.recent_events()}
    assert kinds.get("relayed") == ids[0] and kinds.get("refused") == ids[1]
