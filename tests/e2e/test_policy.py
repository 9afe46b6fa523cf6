"""Kill switches, IP states and suppression over SMTP, changed through the store.

The gateway sees the store only through its mirror, refreshed every
policy.refresh (0.5 s): each test measures that a change reaches the SMTP
conversation within one second.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from policy.quota import operations
from policy.suppression import GLOBAL, Suppression
from tests.support.harness import Gateway, config_text, message, send, start_gateway_from
from tests.support.sink import Sink
from tests.support.wait import code_is, until


@pytest.fixture
async def gw(tmp_path: Path, sink: Sink) -> AsyncIterator[Gateway]:
    text = config_text(tmp_path, sink.port).replace(
        "downstream: {", f'downstream: {{dry_run_outbox: "{tmp_path}/dry-run", '
    )
    gateway = await start_gateway_from(tmp_path, text)
    yield gateway
    await gateway.close()


async def within_a_second(probe: Callable[[], Awaitable[tuple[int, str]]], code: int) -> str:
    """Probe until the reply has `code`; its text. Fails after one second."""
    _, text = await until(probe, done=code_is(code), timeout=1.0, what=f"a {code} reply")
    return text


async def mirrored(gw: Gateway, seen: Callable[[Any], object]) -> None:
    """Until the gateway's policy mirror shows the change (within one refresh and a bit)."""
    await until(lambda: seen(gw.rt.policy), timeout=2.0, what="the change in the mirror")


def now() -> datetime:
    return datetime.now(UTC)


async def test_global_and_tenant_pause_switches(gw: Gateway, sink: Sink):
    s = gw.rt.settings
    assert (await send(gw.port))[0] == 250
    await operations.set_switch(s, gw.store, "pause", "acme", actor="ops", reason="bad list")
    text = await within_a_second(lambda: send(gw.port), 451)
    assert "4.7.0" in text and "tenant acme pause switch (by ops: bad list)" in text
    # Another tenant on the same pool carries on.
    other = await send(gw.port, sender="news@trusted.example", login=False, source="127.0.0.2")
    assert other[0] == 250
    await operations.clear_switch(s, gw.store, "pause", "acme")
    await within_a_second(lambda: send(gw.port), 250)
    await operations.set_switch(s, gw.store, "pause", None, actor="ops")
    text = await within_a_second(
        lambda: send(gw.port, sender="news@trusted.example", login=False, source="127.0.0.2"), 451
    )
    assert "global pause switch" in text


async def test_an_ip_paused_leaves_rotation_and_the_pool_carries_on(gw: Gateway, sink: Sink):
    s = gw.rt.settings
    await operations.ip_action(s, gw.store, "192.0.2.10", "pause", actor="ops", now=now())
    await mirrored(gw, lambda v: "192.0.2.10" in v.ips and v.ips["192.0.2.10"].state == "paused")
    sink.messages.clear()
    for i in range(6):
        assert (await send(gw.port, to=f"r{i}@example.net"))[0] == 250
    vmtas = {m.data.split(b"X-Virtual-MTA: ")[1].split(b"\r\n")[0] for m in sink.messages}
    assert vmtas == {b"acme-2"}
    await operations.ip_action(s, gw.store, "192.0.2.11", "quarantine", actor="ops", now=now())
    text = await within_a_second(lambda: send(gw.port), 451)
    assert "4.7.0" in text and "192.0.2.10 paused" in text and "192.0.2.11 quarantined" in text
    await operations.ip_action(s, gw.store, "192.0.2.10", "resume", actor="ops", now=now())
    await within_a_second(lambda: send(gw.port), 250)
    history = await gw.store.ip_history("192.0.2.10")
    assert [(h.from_state.value, h.to_state.value, h.actor) for h in history] == [
        ("paused", "warm", "ops"),
        ("warm", "paused", "ops"),
    ]


async def test_dry_run_goes_through_the_pipeline_to_the_outbox(gw: Gateway, sink: Sink, tmp_path):
    await operations.set_switch(gw.rt.settings, gw.store, "dry_run", "acme", actor="ops")
    await mirrored(gw, lambda v: v.switch("dry_run", "acme"))
    sink.messages.clear()
    code, _ = await send(gw.port, to="dry@example.net")
    assert code == 250 and sink.messages == []
    [envelope] = list((tmp_path / "dry-run").glob("*.json"))
    assert json.loads(envelope.read_text())["recipients"] == ["dry@example.net"]
    eml = envelope.with_suffix(".eml").read_bytes()
    # The whole pipeline ran: stamped for PowerMTA and signed.
    assert b"X-Virtual-MTA: acme-" in eml and b"DKIM-Signature:" in eml
    await gw.rt.recorder.flush()
    [event] = [e for e in await gw.store.recent_events() if e["recipients"] == "dry@example.net"]
    assert event["kind"] == "relayed" and bool(event["dry_run"]) is True


async def test_suppressed_recipients_are_refused_with_the_reason(gw: Gateway):
    entries = [
        Suppression("acme", "Gone@Example.net", "hard_bounce", "dsn"),
        Suppression(GLOBAL, "angry@example.net", "complaint", "arf"),
        Suppression("other", "elsewhere@example.net", "unsubscribe", "link"),
    ]
    await gw.store.suppress(entries)
    text = await within_a_second(lambda: send(gw.port, to="gone@example.net"), 550)
    assert text.startswith("5.7.1") and "hard bounce (suppression list)" in text
    code, text = await send(gw.port, to="angry@example.net")
    assert (code, "spam complaint (global suppression list)" in text) == (550, True)
    # Another tenant's list does not apply to acme.
    assert (await send(gw.port, to="elsewhere@example.net"))[0] == 250
    await gw.store.unsuppress("acme", ["gone@example.net"])
    await within_a_second(lambda: send(gw.port, to="gone@example.net"), 250)


async def test_a_suppressed_recipient_does_not_spoil_the_others(gw: Gateway, sink: Sink):
    import aiosmtplib

    from tests.support.harness import PASSWORD

    await gw.store.suppress([Suppression("acme", "gone@example.net", "unsubscribe", "link")])
    await mirrored(gw, lambda v: v.suppression.check("acme", "gone@example.net"))
    sink.messages.clear()
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=gw.port, start_tls=False)
    await client.connect()
    await client.login("mailwizz-acme", PASSWORD)
    refused, _ = await client.sendmail(
        "news@acme-mail.com", ["ok@example.net", "gone@example.net"], message(to="ok@example.net")
    )
    await client.quit()
    assert refused["gone@example.net"][0] == 550
    assert [m.recipients for m in sink.messages] == [["ok@example.net"]]
