"""The enrollment task with a driven clock, on both stores: throttles hold then enroll,
dry run enrolls and sends nothing, the five kill switches, blocked reasons, failures."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from policy.enrollment import events as ev
from policy.enrollment import prospects as pr
from policy.store.admin_sql import EventFilter
from policy.switches import Switch
from scheduler.enrollment import Enrollment
from scheduler.scenarios import lifecycle, store_catalog
from tests.support.prospects import prospect, settings

T0 = datetime(2026, 6, 1, 9, 0, tzinfo=UTC).timestamp()
HOUR, DAY = 3600.0, 86400.0
SCENARIO = {
    "name": "intro-fr",
    "from": "Anna <anna@a.example>",
    "filters": {"languages": ["fr"]},
    "auto_enroll": {},
    "steps": [{"id": "intro", "trigger": "entry", "template": "intro"}],
}


class Clock:
    def __init__(self, t: float):
        self.t = t

    def __call__(self) -> float:
        return self.t


async def add_prospects(store, items: list[dict[str, Any]], mx: str = "ok") -> None:
    ps = [pr.parse("acme", item, "test")[0] for item in items]
    await store.ingest_prospects("acme", ps, [pr.row_of(p, mx, T0) for p in ps])


async def add_scenario(store, body: dict[str, Any] = SCENARIO, start: bool = True) -> None:
    await store.save_scenario("acme", body["name"], json.dumps(body), None, None, T0 - DAY)
    if start:
        await lifecycle.act(store, "acme", body["name"], "start", T0 - DAY)


def task(store, enrollment: str, clock: Clock, personalizer: Any = None) -> Enrollment:
    s = settings(9, enrollment)
    return Enrollment(store, lambda: s, store_catalog.build(store), personalizer, clock)


async def acme(t: Enrollment):
    return next(r for r in await t.round() if r.tenant == "acme")


async def statuses(store) -> dict[str, int]:
    return await store.prospect_counts("acme")


async def kinds(store) -> list[tuple[str, str]]:
    rows = await store.event_page(EventFilter(tenant="acme", kinds=ev.EVENT_KINDS), 1 << 62, 1000)
    return sorted((r["kind"], r["recipients"]) for r in rows)


ON = "{enabled: true, dry_run: false, max_per_hour: 2, max_per_day: 3}"


async def test_throttles_hold_prospects_and_enroll_them_when_room_returns(store):
    await add_scenario(store)
    await add_prospects(store, [prospect(f"p{i}@blog{i}.example") for i in range(5)])
    clock = Clock(T0)
    t = task(store, ON, clock)
    report = await acme(t)
    assert (report.counts["enrolled"], report.counts["held_throttle"]) == (2, 3)
    clock.t += 60  # the hour is full
    report = await acme(t)
    assert (report.counts["enrolled"], report.counts["held_throttle"]) == (0, 3)
    clock.t = T0 + HOUR + 1  # room in the hour, one left today
    report = await acme(t)
    assert (report.counts["enrolled"], report.counts["held_throttle"]) == (1, 2)
    clock.t = T0 + DAY  # a new day
    report = await acme(t)
    assert report.counts["enrolled"] == 2
    assert await statuses(store) == {"enrolled": 5}  # none dropped
    assert (await store.enrollment_counts("acme", "intro-fr")) == {"active": 5}
    assert [k for k, _ in await kinds(store)] == [ev.ENROLLED] * 5
    p0 = await store.prospect("acme", "p0@blog0.example")
    assert (p0.scenario, p0.decided) == ("intro-fr", T0)
    # Rounds after change nothing: nobody is enrolled twice.
    clock.t += DAY
    assert (await acme(t)).counts == {}


async def test_dry_run_decides_and_records_but_enrolls_and_sends_nothing(store):
    await add_scenario(store)
    await add_prospects(store, [prospect(f"p{i}@blog{i}.example") for i in range(3)])
    clock = Clock(T0)
    t = task(store, "{enabled: true, dry_run: true}", clock)
    report = await acme(t)
    assert report.counts["dry_run"] == 3
    assert await store.enrollment_counts("acme", "intro-fr") == {}
    assert await store.claim_ops("x", T0 + DAY, 60, 100) == []  # nothing to send
    assert [k for k, _ in await kinds(store)] == [ev.ENROLLMENT_DRY_RUN] * 3
    assert (await acme(t)).counts == {}  # decided once
    # Dry run off at runtime: the same prospects are enrolled for real.
    await store.save_enrollment_settings("acme", '{"dry_run": false}', "admin", T0)
    clock.t += 60
    assert (await acme(t)).counts["enrolled"] == 3
    assert await store.enrollment_counts("acme", "intro-fr") == {"active": 3}


async def test_kill_switches(store):
    await add_scenario(store)
    await add_prospects(store, [prospect("ann@blog.example")])
    clock = Clock(T0)
    # 1. Enrollment off: nothing happens, the prospect stays ready.
    report = await acme(task(store, "{enabled: false, dry_run: false}", clock))
    assert report.holding.startswith("enrollment is off") and await statuses(store) == {"ready": 1}
    t = task(store, "{enabled: true, dry_run: false}", clock)
    # 2. Sending off: the existing pause switch (tenant or global) holds it too.
    for target in ("acme", ""):
        await store.set_switch(Switch("pause", target, "outage", "ops"))
        report = await acme(t)
        assert report.holding.startswith("sending is off") and report.counts == {}
        await store.clear_switch("pause", target)
    # 3. Dry run: the existing dry_run switch makes it a dry run.
    await store.set_switch(Switch("dry_run", "acme", "test", "ops"))
    assert (await acme(t)).counts == {"dry_run": 1}
    await store.clear_switch("dry_run", "acme")
    # 4. Scenario paused: the prospect waits as ready, and is enrolled once resumed.
    await lifecycle.act(store, "acme", "intro-fr", "pause", T0)
    assert (await acme(t)).counts == {"held_paused": 1}
    assert (await store.prospect("acme", "ann@blog.example")).status == "dry_run"
    await lifecycle.act(store, "acme", "intro-fr", "resume", T0)
    assert (await acme(t)).counts == {"enrolled": 1}
    # 5. Do-not-contact: blocked, with the rule named.
    await add_prospects(store, [prospect("bob@blog.example")])
    await store.set_contact_status("acme", "bob@blog.example", "do_not_contact")
    assert (await acme(t)).counts == {"blocked": 1}
    bob = await store.prospect("acme", "bob@blog.example")
    assert bob.reason == "do_not_contact: the contact is do_not_contact"


async def test_blocked_reasons_are_recorded_and_a_settings_change_decides_again(store):
    await add_scenario(store)
    await add_prospects(
        store,
        [
            prospect("low@blog1.example", score=10),
            prospect("en@blog2.example", language="en"),  # no scenario takes English
            prospect("info@blog3.example"),
        ],
    )
    await add_prospects(store, [prospect("unv@blog4.example")], mx="unknown")
    t = task(store, "{enabled: true, dry_run: false}", Clock(T0))
    assert (await acme(t)).counts == {"blocked": 4}
    reasons = {
        e: (await store.prospect("acme", e)).reason
        for e in (
            "low@blog1.example",
            "en@blog2.example",
            "info@blog3.example",
            "unv@blog4.example",
        )
    }
    assert reasons == {
        "low@blog1.example": "score: score 10 is below 50",
        "en@blog2.example": "scenario: no active scenario takes it",
        "info@blog3.example": "role: a role address",
        "unv@blog4.example": "verified: the domain's MX record is not verified",
    }
    rows = await store.event_page(EventFilter(kinds=(ev.ENROLLMENT_BLOCKED,)), 1 << 62, 10)
    assert {r["detail"]["reason"] for r in rows} == set(reasons.values())
    # The settings change (as PUT does): blocked ones are decided again.
    await store.save_enrollment_settings("acme", '{"min_score": 5, "allow_role": true}', "a", T0)
    await store.requeue_blocked("acme", T0)
    assert (await acme(t)).counts == {"enrolled": 2, "blocked": 2}


class Broken:
    async def write_first_lines(self, contacts, brief):
        raise RuntimeError("the API is on fire")


async def test_a_failure_is_enrollment_failed_then_tried_again_then_failed(store):
    body = {**SCENARIO, "auto_enroll": {"first_line": {"instruction": "x", "fallback": "Hi."}}}
    await add_scenario(store, body)
    await add_prospects(store, [prospect("ann@blog.example")])
    clock = Clock(T0)
    t = task(store, "{enabled: true, dry_run: false}", clock, Broken())
    for attempt in range(1, 4):
        clock.t += 60
        report = await acme(t)
        p = await store.prospect("acme", "ann@blog.example")
        assert p.attempts == attempt and "the API is on fire" in p.reason
    assert p.status == "failed" and report.counts == {"failed": 1}
    assert [k for k, _ in await kinds(store)] == [ev.ENROLLMENT_FAILED] * 3
    assert (await acme(t)).counts == {}


async def test_prospects_blocked_for_want_of_a_scenario_enroll_once_one_starts(store):
    await add_scenario(store, start=False)  # a draft: nothing takes prospects yet
    await add_prospects(store, [prospect("p@blog.example")])
    clock = Clock(T0)
    t = task(store, ON, clock)
    report = await acme(t)
    assert report.counts["blocked"] == 1 and (await statuses(store))["blocked"] == 1
    clock.t += 60
    assert (await acme(t)).counts["enrolled"] == 0  # nothing changed: it stays blocked
    await lifecycle.act(store, "acme", SCENARIO["name"], "start", clock())
    clock.t += 60
    report = await acme(t)
    assert report.counts["enrolled"] == 1 and (await statuses(store)).get("blocked", 0) == 0


async def test_a_round_waits_while_another_process_has_the_tenants_turn(store):
    await add_scenario(store)
    await add_prospects(store, [prospect("p@blog.example")])
    t = task(store, ON, Clock(T0))
    async with store.enrollment_turn("acme") as mine:
        assert mine
        report = await acme(t)
        assert report.holding == "another process is deciding these prospects"
        assert (await statuses(store)) == {"ready": 1}
    assert (await acme(t)).counts["enrolled"] == 1
