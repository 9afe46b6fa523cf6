"""The scenario store and its operation ledger, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

from policy.engagement import Engagement
from policy.scenarios.ledger import SEND, Plan, decide_step
from policy.store.scenario_store import Completion, Mark, Release
from policy.suppression import Suppression
from scheduler.scenarios.facts import Facts


def entry(email: str, due: float = 100.0) -> Plan:
    return Plan("acme", "intro", 1, f"e-{email}", email, "intro", SEND, due)


async def started(store) -> None:
    assert await store.save_scenario("acme", "intro", "{}", None, None, 1.0) == 1
    assert await store.save_scenario("acme", "intro", '{"a": 1}', None, None, 2.0) == 1  # draft
    assert await store.set_scenario_status("acme", "intro", "active", "draft", 3.0)
    assert not await store.set_scenario_status("acme", "intro", "active", "draft", 3.0)


async def test_versions_lifecycle_and_enrollment_once(store):
    await started(store)
    assert await store.save_scenario("acme", "intro", '{"b": 2}', None, None, 4.0) == 2
    assert await store.scenario_definition("acme", "intro", 1) == '{"a": 1}'
    row = await store.scenario("acme", "intro")
    assert (row.version, row.status, row.definition) == (2, "active", '{"b": 2}')
    assert await store.enroll([entry("a@x.net"), entry("b@x.net")], 5.0) == [True, True]
    assert await store.enroll([entry("a@x.net")], 6.0) == [False]
    assert await store.enrollment_counts("acme", "intro") == {"active": 2}
    assert await store.open_ops("acme", "intro") == 2


async def test_claim_send_complete_archive_and_never_plan_twice(store):
    await started(store)
    await store.enroll([entry("a@x.net"), entry("b@x.net", due=500.0)], 5.0)
    assert await store.claim_ops("w1", 50.0, 30.0, 10) == []  # not due yet
    [op] = await store.claim_ops("w1", 100.0, 30.0, 10)
    assert await store.claim_ops("w2", 100.0, 30.0, 10) == []  # held by w1
    assert await store.mark_sending("w2", [Mark(op.id, "m@x", 0)], 100.0) == [False]
    assert await store.mark_sending("w1", [Mark(op.id, "m@x", 0)], 100.0) == [True]
    nxt = Plan("acme", "intro", 1, op.enrollment, op.email, decide_step("intro"), "decide", 900.0)
    done = Completion(op, "w1", "executed", sent=("intro", 100.0, "m@x", "{}"), plans=[nxt])
    assert await store.complete_ops([done], 101.0) == [True]
    assert await store.complete_ops([done], 102.0) == [False]  # a second changes nothing
    e = await store.enrollment(op.enrollment)
    assert (e.step, e.message_id, e.status) == ("intro", "m@x", "active")
    # The archived send is never planned again (a decision replayed after a crash).
    assert await store.enroll([entry("a@x.net")], 6.0) == [False]
    assert await store.last_send_to("acme", "a@x.net") == 101.0
    assert await store.scenario_sends_since("acme", "intro", 0.0) == (1, 101.0)
    counts = {(s, st): n for s, _, st, n in await store.op_counts("acme", "intro")}
    assert counts == {
        ("intro", "executed"): 1,
        ("intro", "pending"): 1,
        ("decide:intro", "pending"): 1,
    }


async def test_reaper_orphans_and_deferral(store):
    await started(store)
    await store.enroll([entry("a@x.net"), entry("b@x.net")], 5.0)
    first, second = await store.claim_ops("dead", 100.0, 30.0, 10)
    assert await store.mark_sending("dead", [Mark(second.id, "m2@x", 0)], 100.0) == [True]
    assert await store.reap_ops(120.0) == 0  # the lease holds
    assert await store.reap_ops(131.0) == 1  # the claimed one goes back; sending stays
    [orphan] = await store.take_orphans("w2", 131.0, 30.0, 10)
    assert (orphan.id, orphan.status, orphan.message_id) == (second.id, "sending", "m2@x")
    [again] = await store.claim_ops("w2", 131.0, 30.0, 10)
    assert again.id == first.id
    deferred = Release(again.id, "deferred", 400.0, "451 4.7.1 quota")
    assert await store.set_ops("w2", [deferred], 131.0) == [True]
    assert await store.claim_ops("w2", 399.0, 30.0, 10) == []
    [back] = await store.claim_ops("w2", 400.0, 30.0, 10)
    assert (back.status, back.reason) == ("claimed", "451 4.7.1 quota")


async def test_many_operations_written_at_once_each_answered_for_its_own_row(store):
    await started(store)
    await store.enroll([entry(f"{n}@x.net") for n in range(6)], 5.0)
    assert len(await store.claim_ops("w1", 100.0, 30.0, 10)) == 6
    assert await store.reap_ops(131.0) == 6  # w1's lease lapsed: w2 takes one, w1 the rest
    [theirs] = await store.claim_ops("w2", 131.0, 30.0, 1)
    mine = await store.claim_ops("w1", 131.0, 30.0, 10)
    ops = [theirs, *mine]
    marks = [Mark(o.id, f"m{o.id}@x", 0) for o in ops]
    assert await store.mark_sending("w1", marks, 132.0) == [False] + [True] * 5
    sent = ("intro", 132.0, "m@x", "{}")
    ends = [Completion(o, "w1", "executed", sent=sent, end=("done", "last step")) for o in ops]
    assert await store.complete_ops(ends, 133.0) == [False] + [True] * 5
    assert await store.enrollment_counts("acme", "intro") == {"active": 1, "done": 5}
    assert await store.open_ops("acme", "intro") == 1  # w2's, untouched
    release = [Release(theirs.id, "deferred", 900.0, "451 4.7.1 quota")]
    assert await store.set_ops("w1", release, 134.0) == [False]
    assert await store.set_ops("w2", release, 134.0) == [True]
    [back] = await store.claim_ops("w3", 900.0, 30.0, 10)
    assert (back.id, back.status, back.reason) == (theirs.id, "claimed", "451 4.7.1 quota")


async def test_an_end_cancels_the_enrollments_other_operations_and_plans_only_for_held_ones(
    store,
):
    await started(store)
    await store.enroll([entry("a@x.net"), entry("b@x.net")], 5.0)
    assert len(await store.claim_ops("w1", 100.0, 30.0, 10)) == 2
    assert await store.reap_ops(131.0) == 2  # w1's lease lapsed: w2 takes one, w1 the other
    [theirs] = await store.claim_ops("w2", 131.0, 30.0, 1)
    [mine] = await store.claim_ops("w1", 131.0, 30.0, 1)
    later = [
        Plan("acme", "intro", 1, mine.enrollment, mine.email, step, SEND, due)
        for step, due in (("nudge", 200.0), ("last", 5000.0))
    ]
    lost = Plan("acme", "intro", 1, theirs.enrollment, theirs.email, "nudge", SEND, 200.0)
    ends = [
        Completion(mine, "w1", "executed", plans=later),
        Completion(theirs, "w1", "executed", plans=[lost]),  # not w1's: nothing written
    ]
    assert await store.complete_ops(ends, 132.0) == [True, False]
    assert await _hot_rows(store) == 3  # w2's, and w1's two plans
    [nudge] = await store.claim_ops("w1", 200.0, 30.0, 10)
    assert (nudge.enrollment, nudge.step) == (mine.enrollment, "nudge")
    stop = Completion(nudge, "w1", "cancelled", "stop rule: reply", end=("stopped", "reply"))
    done = Completion(theirs, "w2", "executed", end=("completed", "last step"))
    assert await store.complete_ops([stop, done], 201.0) == [True, True]  # two claimers
    assert await _hot_rows(store) == 0  # "last" archived as cancelled, with the end's reason
    counts = {(s, st): n for s, _, st, n in await store.op_counts("acme", "intro")}
    assert counts == {("intro", "executed"): 2, ("nudge", "cancelled"): 1, ("last", "cancelled"): 1}
    assert await store.enrollment_counts("acme", "intro") == {"stopped": 1, "completed": 1}
    assert (await store.enrollment(mine.enrollment)).reason == "reply"


async def test_an_end_never_plans_again_the_operation_it_ends(store):
    await started(store)
    await store.enroll([entry("a@x.net")], 5.0)
    [op] = await store.claim_ops("w1", 100.0, 30.0, 10)
    again = Plan("acme", "intro", 1, op.enrollment, op.email, op.step, SEND, 200.0)
    assert again.key == op.key
    assert await store.complete_ops([Completion(op, "w1", "executed", plans=[again])], 101.0)
    assert await _hot_rows(store) == 0
    assert await store.claim_ops("w1", 300.0, 30.0, 10) == []


async def test_pause_freezes_and_resume_restores_the_remaining_delay(store):
    await started(store)
    await store.enroll([entry("a@x.net", due=1000.0)], 5.0)
    assert await store.set_scenario_status("acme", "intro", "paused", "active", 400.0)
    assert await store.claim_ops("w", 5000.0, 30.0, 10) == []  # paused: nothing claimed
    assert await store.due_stats(5000.0) == (0, None)  # frozen: not due, not lagging
    assert await store.set_scenario_status("acme", "intro", "active", "paused", 5000.0)
    assert await store.due_stats(5600.0) == (1, 5600.0)
    assert await store.claim_ops("w", 5599.0, 30.0, 10) == []
    [op] = await store.claim_ops("w", 5600.0, 30.0, 10)
    assert op.due == 5600.0


async def test_cancel_ends_enrollments_and_ops(store):
    await started(store)
    await store.enroll([entry("a@x.net")], 5.0)
    assert await store.set_scenario_status("acme", "intro", "cancelled", "active", 10.0)
    assert await store.open_ops("acme", "intro") == 0
    assert await store.enrollment_counts("acme", "intro") == {"cancelled": 1}


async def test_stop_facts_come_from_the_store(store):
    await store.add_contact_event("acme", "r@x.net", "replied", "", 50.0)
    assert await store.stop_reason("acme", "r@x.net", 10.0) == "reply"
    assert await store.stop_reason("acme", "r@x.net", 60.0) is None
    assert await store.stop_reason("acme", "other@x.net", 0.0) is None
    # A suppression outranks a reply; only one since the enrollment counts; any tenant's
    # global entry counts too.
    await store.suppress([Suppression("", "r@x.net", "hard_bounce", "dsn", created_at=40.0)])
    await store.suppress([Suppression("acme", "r@x.net", "complaint", "arf", created_at=55.0)])
    assert await store.stop_reason("acme", "r@x.net", 10.0) == "hard_bounce"
    assert await store.stop_reason("acme", "r@x.net", 45.0) == "complaint"
    assert await store.stop_reason("acme", "r@x.net", 56.0) is None
    click = Engagement("unsubscribe", "acme", "j", "<m@x>", "u@x.net", at=70.0)
    await store.record_engagement([click])
    assert await store.stop_reason("acme", "u@x.net", 60.0) == "unsubscribe"
    assert await store.stop_reason("other", "u@x.net", 60.0) is None
    # The batch read ranks the same facts the same way, for every start.
    rows = await store.stop_facts("acme", ["r@x.net", "u@x.net", "none@x.net"], 0.0)
    facts = Facts(stops={("acme", e): [] for e in ("r@x.net", "u@x.net", "none@x.net")})
    for email, rank, at, rule in rows:
        facts.stops[("acme", email)].append((rank, at, rule))
    for email in ("r@x.net", "u@x.net", "none@x.net"):
        for since in (0.0, 10.0, 45.0, 51.0, 56.0, 60.0, 71.0):
            expected = await store.stop_reason("acme", email, since)
            assert facts.stop_reason("acme", email, since) == expected, (email, since)


async def test_enrollments_read_by_batch(store):
    await started(store)
    await store.enroll([entry(f"b{i}@x.net") for i in range(3)], 5.0)
    got = await store.enrollments(["e-b0@x.net", "e-b2@x.net", "e-b2@x.net", "e-none"])
    assert sorted(got) == ["e-b0@x.net", "e-b2@x.net"]
    assert got["e-b2@x.net"].email == "b2@x.net" and got["e-b2@x.net"].status == "active"


async def test_concurrent_claims_never_share_an_operation(store):
    await started(store)
    await store.enroll([entry(f"c{i}@x.net") for i in range(200)], 5.0)

    async def claimer(name: str) -> list[int]:
        got: list[int] = []
        for _ in range(50):
            ops = await store.claim_ops(name, 100.0, 30.0, 7)
            if not ops:
                break
            got.extend(o.id for o in ops)
        return got

    results = await asyncio.gather(*(claimer(f"w{i}") for i in range(4)))
    ids = [i for r in results for i in r]
    assert len(ids) == len(set(ids)) == 200


async def _hot_rows(store) -> int:
    """Rows in the hot table, which every claim reads (a private look: no API counts them)."""
    sql = "SELECT count(*) FROM scenario_ops"
    if hasattr(store, "_pool"):
        return int(await store._pool().fetchval(sql))
    return int((await store._rows(sql))[0][0])


async def test_cancelled_operations_leave_the_hot_table_and_still_count(store):
    await started(store)
    await store.enroll([entry(f"{n}@x.net") for n in range(4)], 5.0)
    [op, *_] = await store.claim_ops("w1", 100.0, 30.0, 1)
    ended = Completion(op, "w1", "cancelled", "stop rule: reply", end=("stopped", "reply"))
    assert await store.complete_ops([ended], 101.0) == [True]
    assert await _hot_rows(store) == 3
    assert await store.set_scenario_status("acme", "intro", "cancelled", "active", 102.0)
    assert await _hot_rows(store) == 0  # archived, not left behind as 'cancelled'
    counts = {(s, st): n for s, _, st, n in await store.op_counts("acme", "intro")}
    assert counts == {("intro", "cancelled"): 4}
    assert await store.enroll([entry("1@x.net")], 103.0) == [False]  # still never planned twice


async def test_an_upgrade_archives_the_cancelled_rows_earlier_versions_left(tmp_path, monkeypatch):
    from policy.store import sqlite_open
    from policy.store.schema import MIGRATIONS
    from policy.store.sqlite import SqliteStore

    path = str(tmp_path / "old.db")
    old = SqliteStore(path)
    with monkeypatch.context() as m:  # a database of version 47
        m.setattr(sqlite_open, "MIGRATIONS", tuple(x for x in MIGRATIONS if x[0] <= 47))
        await old.open()
    try:
        await started(old)
        await old.enroll([entry("a@x.net"), entry("b@x.net"), entry("c@x.net")], 5.0)
        async with old._write() as db:  # as version 47 cancelled: the row stayed
            await db.execute("UPDATE scenario_ops SET status = 'cancelled' WHERE email = 'a@x.net'")
    finally:
        await old.close()
    new = SqliteStore(path)
    await new.open()  # migrations 48 and 49 run
    try:
        assert await _hot_rows(new) == 2  # b's and c's pending operations stay
        counts = {(s, st): n for s, _, st, n in await new.op_counts("acme", "intro")}
        assert counts == {("intro", "cancelled"): 1, ("intro", "pending"): 2}
        # The new indexes serve the claim, the reaper and the orphan search.
        first, second = await new.claim_ops("w1", 100.0, 30.0, 10)
        assert await new.mark_sending("w1", [Mark(second.id, "m@x", 0)], 100.0) == [True]
        assert await new.reap_ops(131.0) == 1
        [orphan] = await new.take_orphans("w2", 131.0, 30.0, 10)
        assert orphan.id == second.id
        [again] = await new.claim_ops("w3", 131.0, 30.0, 10)
        assert again.id == first.id
    finally:
        await new.close()


async def test_postgres_keeps_room_for_the_sending_mark_and_compiles_nothing(pg_dsn):
    from policy.store.postgres import PostgresStore

    store = PostgresStore(pg_dsn)
    await store.open()
    try:
        async with store._pool().acquire() as conn:
            options = await conn.fetchval(
                "SELECT reloptions FROM pg_class WHERE relname = 'scenario_ops'"
                " AND relnamespace = current_schema()::regnamespace"
            )
            assert options == ["fillfactor=50"]
            assert await conn.fetchval("SHOW jit") == "off"
    finally:
        await store.close()
