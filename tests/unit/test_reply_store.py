"""The replies table and the lookups a reply needs, on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses

from policy.replies.record import ReplyRow
from policy.scenarios.ledger import SEND, Plan, decide_step
from policy.store.scenario_store import Completion, Mark

MID = "0123456789abcdef0123456789abcdef@acme-mail.com"


async def sent_once(store) -> str:
    """One executed send of ``intro`` to a@x.net, its decision pending at 900."""
    await store.save_scenario("acme", "intro", "{}", None, None, 1.0)
    await store.set_scenario_status("acme", "intro", "active", "draft", 2.0)
    await store.enroll([Plan("acme", "intro", 1, "e-1", "a@x.net", "intro", SEND, 100.0)], 3.0)
    [op] = await store.claim_ops("w1", 100.0, 30.0, 10)
    await store.mark_sending("w1", [Mark(op.id, MID, 0)], 100.0)
    nxt = Plan("acme", "intro", 1, "e-1", "a@x.net", decide_step("intro"), "decide", 900.0)
    sent = ("intro", 100.0, MID, "{}")
    await store.complete_ops([Completion(op, "w1", "executed", sent=sent, plans=[nxt])], 101.0)
    return op.enrollment


def row(**changes) -> ReplyRow:
    base = ReplyRow(
        0, "inbox:1", "acme", "a@x.net", "intro", "intro", "e-1", MID, "r1@example.com",
        "smtp", "a@x.net", "Re: Hello", "interested", 0.93, "model", False, None, "", "Yes!",
        1000.0, 1000.0,
    )  # fmt: skip
    return dataclasses.replace(base, **changes)


async def test_a_send_is_found_by_its_digest(store):
    enrollment = await sent_once(store)
    found = await store.sent_message("acme", MID[:32])
    assert (found.scenario, found.step, found.email, found.enrollment, found.message_id) == (
        "intro", "intro", "a@x.net", enrollment, MID,
    )  # fmt: skip
    assert await store.sent_message("other", MID[:32]) is None
    assert await store.sent_message("acme", "f" * 32) is None


async def test_replies_stored_once_listed_reviewed_and_counted(store):
    raw = b"From: a@x.net\r\n\r\nYes!\xff"
    first = await store.add_reply(row(), raw)
    assert first is not None
    assert await store.add_reply(row(), raw) is None  # the same key: stored once
    second = await store.add_reply(
        row(key="imap:2", classification="other", review=True, decided_by="fallback"), b"x"
    )
    await store.add_reply(row(key="imap:3", tenant="other"), b"y")
    listed = await store.replies("acme", 10)
    assert [r.id for r in listed] == [second, first]
    assert listed[0].review is True and listed[1].review is False
    assert [r.id for r in await store.replies("acme", 10, review=True)] == [second]
    assert [r.id for r in await store.replies("acme", 10, before=second)] == [first]
    assert await store.reply_original("acme", first) == raw
    assert await store.reply_original("other", first) is None
    assert await store.review_reply("acme", second, "meeting_request", 2000.0)
    assert not await store.review_reply("other", second, "interested", 2000.0)
    reviewed = await store.reply("acme", second)
    assert (reviewed.classification, reviewed.decided_by, reviewed.review) == (
        "meeting_request", "operator", False,
    )  # fmt: skip
    counts = await store.reply_counts("acme", "intro")
    assert sorted(counts) == [("intro", "interested", 1), ("intro", "meeting_request", 1)]


async def test_postponing_an_enrollment_moves_only_its_waiting_operations(store):
    enrollment = await sent_once(store)
    assert await store.postpone_enrollment(enrollment, 5000.0, 200.0) == 1
    assert await store.postpone_enrollment(enrollment, 4000.0, 200.0) == 0  # never earlier
    assert await store.claim_ops("w1", 4999.0, 30.0, 10) == []
    [op] = await store.claim_ops("w1", 5000.0, 30.0, 10)
    assert op.step == decide_step("intro")


async def test_a_postponement_while_paused_outlasts_the_resume(store):
    enrollment = await sent_once(store)  # its decision waits until 900
    assert await store.set_scenario_status("acme", "intro", "paused", "active", 500.0)
    assert await store.postpone_enrollment(enrollment, 5000.0, 600.0) == 1
    assert await store.set_scenario_status("acme", "intro", "active", "paused", 700.0)
    # Resumed at 700: the 4,400 s left from the postponement at 600, not the 400 s
    # the decision had left when the scenario paused.
    assert await store.claim_ops("w1", 5099.0, 30.0, 10) == []
    [op] = await store.claim_ops("w1", 5100.0, 30.0, 10)
    assert op.step == decide_step("intro")
