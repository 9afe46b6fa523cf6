"""The in-process Submit callable: the same pipeline as SMTP, against the sink."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from conf.schema.spool import SpoolSettings
from gateway import submit as submit_mod
from policy import view
from policy.quota import operations
from policy.submission import Submission
from policy.suppression import Suppression
from tests.support.harness import Gateway, config_text, message, start_gateway_from, with_pools
from tests.support.sink import Sink

NOW = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
TWO_A_DAY = """
pools:
  acme:
    - {ip: 192.0.2.10, vmta: acme-1, hostname: mta1.acme-mail.com, daily_limit: 2}
"""


def submission(to: str, n: int = 1) -> Submission:
    mid = f"abc{n}.{to.split('@')[0]}@acme-mail.com"
    data = message(to=to, extra_headers=f"Message-ID: <{mid}>\r\n")
    return Submission("acme", "news@acme-mail.com", to, data, mid, job="scenario:intro")


@pytest.fixture
async def gw(tmp_path: Path, sink: Sink) -> AsyncIterator[Gateway]:
    text = with_pools(config_text(tmp_path, sink.port), TWO_A_DAY)
    gateway = await start_gateway_from(tmp_path, text, clock=lambda: NOW)
    yield gateway
    await gateway.close()


async def test_relayed_keeps_its_message_id_and_is_signed(gw: Gateway, sink: Sink):
    out = await submit_mod.build(lambda: gw.rt)(submission("a@example.net"))
    assert (out.code, out.outcome) == (250, "relayed")
    [got] = sink.by_recipient("a@example.net")
    assert b"Message-ID: <abc1.a@acme-mail.com>" in got.data
    assert got.data.count(b"Message-ID:") == 1
    assert got.data.startswith(b"DKIM-Signature:") and b"scenario:intro" in got.data


async def test_suppressed_is_refused_with_a_5xx_and_not_sent(gw: Gateway, sink: Sink):
    await gw.store.suppress([Suppression("acme", "gone@example.net", "hard_bounce", "dsn")])
    await view.refresh(gw.rt.policy, gw.store)  # the mirror, as its task would
    out = await submit_mod.build(lambda: gw.rt)(submission("gone@example.net"))
    assert out.code == 550
    assert out.enhanced == "5.7.1" and out.outcome == "rejected"
    assert sink.by_recipient("gone@example.net") == []


async def test_quota_over_gives_451_4_7_1(gw: Gateway, sink: Sink):
    submit = submit_mod.build(lambda: gw.rt)
    codes = [(await submit(submission(f"q{i}@example.net", i))).code for i in range(3)]
    assert codes == [250, 250, 451]
    out = await submit(submission("q9@example.net", 9))
    assert (out.code, out.enhanced, out.outcome) == (451, "4.7.1", "deferred")
    assert len(sink.messages) == 2


async def test_kill_switch_defers(gw: Gateway, sink: Sink):
    await operations.set_switch(gw.rt.settings, gw.store, "pause", "acme", actor="ops", reason="x")
    submit = submit_mod.build(lambda: gw.rt)

    await view.refresh(gw.rt.policy, gw.store)
    out = await submit(submission("k@example.net"))
    assert (out.code, out.enhanced, out.outcome) == (451, "4.7.0", "deferred")
    assert sink.messages == []


async def test_downstream_down_defers_or_spools(tmp_path: Path, sink: Sink):
    await sink.stop()
    gateway = await start_gateway_from(tmp_path, config_text(tmp_path, sink.port))
    try:
        out = await submit_mod.build(lambda: gateway.rt)(submission("d@example.net"))
        assert (out.code, out.outcome) == (451, "deferred")
    finally:
        await gateway.close()
    spool = SpoolSettings(dir=str(tmp_path / "spool"), retry_interval=0.1)  # type: ignore[call-arg]
    (tmp_path / "b").mkdir()
    gateway = await start_gateway_from(
        tmp_path / "b", config_text(tmp_path / "b", sink.port), spool=spool
    )
    try:
        out = await submit_mod.build(lambda: gateway.rt)(submission("d@example.net"))
        assert (out.code, out.outcome) == (250, "spooled")
    finally:
        await gateway.close()
