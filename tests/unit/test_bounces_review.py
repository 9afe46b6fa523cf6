"""A bounce's reading kept with its event, shown by the store's event pages,
and the review of hard-bounce suppressions read with low confidence."""

from __future__ import annotations

import os
import time

from gateway.cli_policy import format_review
from policy.bounces import parse
from policy.bounces.decide import Decision
from policy.bounces.report import make_report
from policy.events import Event
from policy.feedback import decision
from policy.feedback.verp import Origin
from policy.store import bounce_review
from policy.store.admin_sql import EventFilter
from policy.suppression import Suppression

FIXTURE = os.path.join(os.path.dirname(os.path.dirname(__file__)), "fixtures", "bounces")


def feedback(report, at: float) -> decision.Feedback:
    origin = Origin(tenant="acme", message_id="<m@x>", recipient=report.recipient, ip="192.0.2.1")
    return decision.Feedback(origin, report, "dsn", f"k-{report.recipient}", at)


async def test_bounce_events_keep_the_rule_and_review_lists_low_confidence(store):
    with open(os.path.join(FIXTURE, "postfix-dsn.eml"), "rb") as fh:
        (clear,) = parse(fh.read())
    assert (clear.rule, clear.hard) == ("code+text", True)
    bare = make_report(
        "bare@example.org",
        Decision("userunknown", "code-only", "5.1.1"),
        status="5.1.1",
        tracking={},
    )
    assert bare.hard and bare.confidence == "low"
    now = time.time()
    events = [decision.event(feedback(r, now), decision.BOUNCED) for r in (clear, bare)]
    await store.record(events)
    await store.suppress(
        [
            Suppression("acme", r.recipient, "hard_bounce", f"dsn:{r.reason}", now - 1)
            for r in (clear, bare)
        ]
        + [Suppression("acme", "old@example.org", "hard_bounce", "dsn:userunknown", now - 1)]
    )

    rows = await store.event_page(EventFilter(kinds=("bounced",)), 0, 10)
    details = {row["recipients"][0]: row["detail"] for row in rows}
    assert details["user@example.net"]["rule"] == "code+text"
    assert "user unknown" in details["user@example.net"]["evidence"]
    assert details["bare@example.org"] == {
        "rule": "code-only",
        "evidence": "5.1.1",
        "confidence": "low",
    }

    items = await bounce_review.to_review(store, "acme")
    assert [i.suppression.address for i in items] == ["bare@example.org"]
    assert (items[0].rule, items[0].confidence) == ("code-only", "low")
    every = await bounce_review.to_review(store, None, everything=True)
    assert {i.suppression.address for i in every} == {
        "user@example.net",
        "bare@example.org",
        "old@example.org",
    }
    lines = format_review(every).splitlines()
    assert lines[0].startswith("tenant\taddress")
    assert any("old@example.org" in line and "(no reading recorded)" in line for line in lines)
    assert any("bare@example.org" in line and "code-only\tlow\t5.1.1" in line for line in lines)


async def test_relay_events_have_an_empty_detail(store):
    await store.record([Event("relayed", "acme", "c", "f@x.org", ("r@y.org",))])
    (row,) = await store.event_page(EventFilter(), 0, 5)
    assert row["detail"] == {}
