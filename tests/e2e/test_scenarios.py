"""The scenario engine through the real pipeline into the sink, with a driven clock."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gateway import submit as submit_mod
from policy import view
from policy.engagement import Engagement
from policy.quota import operations as quota_ops
from policy.scenarios.ledger import enrollment_id, idempotency_key
from policy.submission import Submission
from scheduler.scenarios import lifecycle
from scheduler.scenarios.engine import Engine, EngineSettings
from tests.support.harness import Gateway, config_text, start_gateway_from, with_pools
from tests.support.scenarios import Clock, MemoryCatalog, save, template
from tests.support.sink import Sink

DAY = 86400.0
# Monday 2026-06-01 08:00 UTC: inside a mon-fri 09:00-17:00 Paris window (10:00 local).
T0 = datetime(2026, 6, 1, 8, 0, tzinfo=UTC).timestamp()
NOW = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
POOL = """
pools:
  acme:
    - {ip: 192.0.2.10, vmta: acme-1, hostname: mta1.acme-mail.com, daily_limit: {limit}}
"""


@dataclass
class Rig:
    gw: Gateway
    engine: Engine
    catalog: MemoryCatalog
    clock: Clock
    quota_day: list[datetime]


@pytest.fixture
async def rig(tmp_path: Path, sink: Sink, request) -> AsyncIterator[Rig]:
    limit = getattr(request, "param", 100000)
    day = [NOW]
    text = with_pools(config_text(tmp_path, sink.port), POOL.replace("{limit}", str(limit)))
    gw = await start_gateway_from(tmp_path, text, clock=lambda: day[0])
    clock = Clock(T0)
    catalog = MemoryCatalog()
    for name in ("intro", "thanks", "nudge-a", "nudge-b", "last"):
        catalog.templates[name] = template(name)
    settings = EngineSettings(decide_poll=3600.0, retry_base=600.0)
    engine = Engine(
        gw.store, submit_mod.build(lambda: gw.rt), catalog, lambda: gw.rt.settings, clock, settings
    )
    yield Rig(gw, engine, catalog, clock, day)
    await gw.close()


BODY = {
    "name": "intro-fr",
    "from": "Anna <anna@acme-mail.com>",
    "window": {"days": "mon-fri", "start": "09:00", "end": "17:00", "timezone": "Europe/Paris"},
    "stop_on": ["reply", "unsubscribe", "hard_bounce", "complaint"],
    "steps": [
        {"id": "intro", "trigger": "entry", "template": "intro"},
        {
            "id": "thanks",
            "parent": "intro",
            "trigger": "opened",
            "delay": "1h",
            "template": "thanks",
        },
        {
            "id": "nudge",
            "parent": "intro",
            "trigger": "not_opened",
            "delay": "3d",
            "variants": [
                {"template": "nudge-a", "weight": 50},
                {"template": "nudge-b", "weight": 50},
            ],
        },
    ],
}


async def started(rig: Rig, body: dict, *emails: str) -> None:
    rig.catalog.add("acme", *emails)
    await save(rig.gw.store, body)
    assert await lifecycle.act(rig.gw.store, "acme", body["name"], "start", rig.clock()) == "active"
    done = await lifecycle.enroll(
        rig.gw.store, rig.catalog, "acme", body["name"], emails, rig.clock()
    )
    assert sorted(done.enrolled) == sorted(emails)


def subjects(sink: Sink, email: str) -> list[str]:
    out = []
    for m in sink.by_recipient(email):
        [line] = [x for x in m.data.split(b"\r\n") if x.startswith(b"Subject:")]
        out.append(line.split(b" ", 2)[1].decode())
    return out


async def opened(rig: Rig, email: str, classification: str, at: float) -> None:
    """An open of the email's intro, as the engagement writer records it."""
    e = await rig.gw.store.enrollment(enrollment_id("acme", "intro-fr", email))
    seen = Engagement(
        "open", "acme", "scenario:intro-fr", f"<{e.message_id}>", email,
        at=at, classification=classification,
    )  # fmt: skip
    await rig.gw.store.record_engagement([seen])


async def test_branches_on_human_opens_machine_opens_and_none(rig: Rig, sink: Sink):
    await started(rig, BODY, "human@example.net", "machine@example.net", "none@example.net")
    assert await rig.engine.run_until_idle() == 3
    assert [len(sink.by_recipient(e)) for e in ("human@example.net", "none@example.net")] == [1, 1]
    [m] = sink.by_recipient("human@example.net")
    assert b"Subject: intro for Human" in m.data and b"multipart/alternative" in m.data
    await opened(rig, "human@example.net", "human", rig.clock() + 60)
    await opened(rig, "machine@example.net", "machine", rig.clock() + 30)
    for _ in range(4 * 24):  # four days, an hour at a time
        rig.clock.advance(3600)
        await rig.engine.run_until_idle()
    assert subjects(sink, "human@example.net") == ["intro", "thanks"]
    nudged = [subjects(sink, e) for e in ("machine@example.net", "none@example.net")]
    assert all(s[0] == "intro" and s[1].startswith("nudge-") and len(s) == 2 for s in nudged)
    counts = await rig.gw.store.enrollment_counts("acme", "intro-fr")
    assert counts == {"completed": 3}
    await rig.engine.round()
    assert (await rig.gw.store.scenario("acme", "intro-fr")).status == "completed"


async def test_the_message_id_derives_from_the_idempotency_key(rig: Rig, sink: Sink):
    body = {**BODY, "window": None, "steps": [BODY["steps"][0]]}
    await started(rig, body, "a@example.net")
    await rig.engine.run_until_idle()
    [m] = sink.by_recipient("a@example.net")
    key = idempotency_key(
        "acme", "intro-fr", enrollment_id("acme", "intro-fr", "a@example.net"), "intro"
    )
    assert f"Message-ID: <{key[:32]}@acme-mail.com>".encode() in m.data


async def test_outside_the_window_waits_for_it(rig: Rig, sink: Sink):
    rig.clock.now = datetime(2026, 6, 6, 8, 0, tzinfo=UTC).timestamp()  # a Saturday
    await started(rig, {**BODY, "steps": [BODY["steps"][0]]}, "w@example.net")
    await rig.engine.run_until_idle()
    assert sink.messages == []
    rig.clock.now = datetime(2026, 6, 8, 6, 59, tzinfo=UTC).timestamp()  # Monday 08:59 Paris
    await rig.engine.run_until_idle()
    assert sink.messages == []
    rig.clock.now = datetime(2026, 6, 8, 7, 0, tzinfo=UTC).timestamp()
    await rig.engine.run_until_idle()
    assert len(sink.messages) == 1


@pytest.mark.parametrize("rig", [1], indirect=True)
async def test_a_quota_451_defers_then_sends_inside_the_window(rig: Rig, sink: Sink):
    await started(rig, {**BODY, "steps": [BODY["steps"][0]]}, "q1@example.net", "q2@example.net")
    await rig.engine.run_until_idle()
    assert len(sink.messages) == 1  # the IP's daily limit is 1
    stats = {(s, st): n for s, _, st, n in await rig.gw.store.op_counts("acme", "intro-fr")}
    assert stats == {("intro", "executed"): 1, ("intro", "deferred"): 1}
    await rig.engine.round()
    assert (
        await rig.gw.store.scenario("acme", "intro-fr")
    ).status == "active"  # never completed while deferred
    rig.quota_day[0] = NOW + timedelta(days=1)  # the IP's next quota day
    rig.clock.advance(600)
    await rig.engine.run_until_idle()
    assert len(sink.messages) == 2


async def test_a_recorded_reply_stops_the_enrollment(rig: Rig, sink: Sink):
    await started(rig, BODY, "r@example.net")
    await rig.engine.run_until_idle()
    await rig.gw.store.add_contact_event("acme", "r@example.net", "replied", "", rig.clock() + 10)
    rig.clock.advance(4 * DAY)
    await rig.engine.run_until_idle()
    assert subjects(sink, "r@example.net") == ["intro"]
    assert await rig.gw.store.enrollment_counts("acme", "intro-fr") == {"stopped": 1}


async def test_do_not_contact_and_suppressed_are_never_enrolled_nor_sent(rig: Rig, sink: Sink):
    from policy.suppression import Suppression

    rig.catalog.add("acme", "dnc@example.net", status="do_not_contact")
    rig.catalog.add("acme", "gone@example.net", "ok@example.net")
    await rig.gw.store.suppress([Suppression("acme", "gone@example.net", "hard_bounce", "dsn")])
    await save(rig.gw.store, BODY)
    await lifecycle.act(rig.gw.store, "acme", "intro-fr", "start", rig.clock())
    emails = ["dnc@example.net", "gone@example.net", "ok@example.net", "nobody@example.net"]
    done = await lifecycle.enroll(
        rig.gw.store, rig.catalog, "acme", "intro-fr", emails, rig.clock()
    )
    assert done.enrolled == ["ok@example.net"]
    assert dict(done.skipped) == {
        "dnc@example.net": "do_not_contact",
        "gone@example.net": "suppressed",
        "nobody@example.net": "not a contact",
    }
    # A contact marked do_not_contact after enrolling is not sent to either.
    rig.catalog.add("acme", "ok@example.net", status="do_not_contact")
    await rig.engine.run_until_idle()
    assert sink.messages == []


async def test_cooldown_across_scenarios(rig: Rig, sink: Sink):
    one = {**BODY, "window": None, "cooldown": "2d", "steps": [BODY["steps"][0]]}
    two = {**one, "name": "other"}
    await started(rig, one, "c@example.net")
    rig.catalog.add("acme", "c@example.net")
    await save(rig.gw.store, two)
    await lifecycle.act(rig.gw.store, "acme", "other", "start", rig.clock())
    await lifecycle.enroll(
        rig.gw.store, rig.catalog, "acme", "other", ["c@example.net"], rig.clock()
    )
    await rig.engine.run_until_idle()
    assert len(sink.by_recipient("c@example.net")) == 1
    rig.clock.advance(2 * DAY - 1)
    await rig.engine.run_until_idle()
    assert len(sink.by_recipient("c@example.net")) == 1
    rig.clock.advance(1)
    await rig.engine.run_until_idle()
    assert len(sink.by_recipient("c@example.net")) == 2


async def test_daily_cap_and_pacing(rig: Rig, sink: Sink):
    body = {**BODY, "window": None, "daily_cap": 3, "pacing": "10m", "steps": [BODY["steps"][0]]}
    emails = [f"p{i}@example.net" for i in range(5)]
    await started(rig, body, *emails)
    await rig.engine.run_until_idle()
    assert len(sink.messages) == 1
    for _ in range(6):
        rig.clock.advance(600)
        await rig.engine.run_until_idle()
    assert len(sink.messages) == 3  # the day's cap
    rig.clock.now = datetime(2026, 6, 2, 0, 0, tzinfo=UTC).timestamp()
    await rig.engine.run_until_idle()
    rig.clock.advance(600)
    await rig.engine.run_until_idle()
    assert len(sink.messages) == 5


async def test_a_send_whose_process_died_after_the_250_is_not_sent_again(rig: Rig, sink: Sink):
    real = rig.engine.submit

    async def dies_after(s: Submission):
        await real(s)
        raise RuntimeError("killed after the downstream's 250")

    rig.engine.submit = dies_after
    await started(rig, {**BODY, "window": None, "steps": [BODY["steps"][0]]}, "k@example.net")
    await rig.engine.round()
    assert len(sink.messages) == 1
    rig.engine.submit = real
    rig.clock.advance(rig.engine.config.lease + 1)
    await rig.engine.run_until_idle()
    assert len(sink.messages) == 1
    stats = {(s, st): n for s, _, st, n in await rig.gw.store.op_counts("acme", "intro-fr")}
    assert stats == {("intro", "executed"): 1}


async def test_a_kill_switch_defers_and_the_retry_sends(rig: Rig, sink: Sink):
    s = rig.gw.rt.settings
    await quota_ops.set_switch(s, rig.gw.store, "pause", "acme", actor="ops", reason="x")
    await view.refresh(rig.gw.rt.policy, rig.gw.store)
    await started(rig, {**BODY, "window": None, "steps": [BODY["steps"][0]]}, "s@example.net")
    await rig.engine.run_until_idle()
    assert sink.messages == []
    await quota_ops.clear_switch(s, rig.gw.store, "pause", "acme")
    await view.refresh(rig.gw.rt.policy, rig.gw.store)
    rig.clock.advance(600)
    await rig.engine.run_until_idle()
    assert len(sink.messages) == 1


AB = {
    **BODY,
    "window": None,
    "auto_winner": {"min_sample": 100, "confidence": 0.95, "metric": "opened"},
    "steps": [
        {
            "id": "intro",
            "trigger": "entry",
            "variants": [
                {"template": "nudge-a", "weight": 70},
                {"template": "nudge-b", "weight": 30},
            ],
        },
        {"id": "later", "parent": "intro", "trigger": "delay", "delay": "30d", "template": "last"},
    ],
}


async def test_ab_split_within_tolerance_then_the_auto_winner(rig: Rig, sink: Sink):
    emails = [f"ab{i:04d}@example.net" for i in range(600)]
    await started(rig, AB, *emails[:400])
    await rig.engine.run_until_idle()
    share_a = sum(1 for e in emails[:400] if subjects(sink, e) == ["nudge-a"])
    assert 240 <= share_a <= 320  # 70 % of 400 = 280, within about 3.5 sigma
    # Variant b is opened by humans far more often: the test picks it.
    for i, e in enumerate(emails[:400]):
        if subjects(sink, e) == ["nudge-b"] or i % 10 == 0:
            await opened(rig, e, "human", rig.clock() + 5)
    await rig.engine.round()
    row = await rig.gw.store.scenario("acme", "intro-fr")
    decision = json.loads(row.winners)["intro"]
    assert decision["winner"] == 1 and decision["p_value"] < 0.05
    rig.catalog.add("acme", *emails[400:])
    await lifecycle.enroll(rig.gw.store, rig.catalog, "acme", "intro-fr", emails[400:], rig.clock())
    await rig.engine.run_until_idle()
    assert all(subjects(sink, e) == ["nudge-b"] for e in emails[400:])


async def test_pause_freezes_and_resume_restores_the_remaining_delay(rig: Rig, sink: Sink):
    body = {
        **BODY,
        "window": None,
        "steps": [BODY["steps"][0], {**BODY["steps"][2], "trigger": "delay"}],
    }
    await started(rig, body, "p@example.net")
    await rig.engine.run_until_idle()
    rig.clock.advance(DAY)  # two of three days left
    await lifecycle.act(rig.gw.store, "acme", "intro-fr", "pause", rig.clock())
    rig.clock.advance(10 * DAY)
    await rig.engine.run_until_idle()
    assert subjects(sink, "p@example.net") == ["intro"]
    await lifecycle.act(rig.gw.store, "acme", "intro-fr", "resume", rig.clock())
    rig.clock.advance(2 * DAY - 60)
    await rig.engine.run_until_idle()
    assert subjects(sink, "p@example.net") == ["intro"]
    rig.clock.advance(60)
    await rig.engine.run_until_idle()
    assert len(subjects(sink, "p@example.net")) == 2


async def test_queue_behind_starts_when_the_first_completes(rig: Rig, sink: Sink):
    first = {**BODY, "window": None, "steps": [BODY["steps"][0]]}
    second = {**first, "name": "after", "queue_behind": "intro-fr"}
    await started(rig, first, "a@example.net")
    await save(rig.gw.store, second)
    assert await lifecycle.act(rig.gw.store, "acme", "after", "start", rig.clock()) == "scheduled"
    await lifecycle.enroll(
        rig.gw.store, rig.catalog, "acme", "after", ["a@example.net"], rig.clock()
    )
    assert (await rig.gw.store.scenario("acme", "after")).status == "scheduled"
    await rig.engine.run_until_idle()  # the first sends, then completes
    await rig.engine.round()  # the second starts
    assert (await rig.gw.store.scenario("acme", "intro-fr")).status == "completed"
    await rig.engine.run_until_idle()
    assert len(sink.by_recipient("a@example.net")) == 2
    await rig.engine.round()
    assert (await rig.gw.store.scenario("acme", "after")).status == "completed"
