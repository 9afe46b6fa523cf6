"""Feedback, engagement and task metrics counted where the facts happen, on a real SQLite store."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator

import pytest
from prometheus_client import REGISTRY

from conf.schema import FeedbackSettings
from policy.bounces import parse
from policy.engagement import Engagement, EngagementRecorder
from policy.feedback import verp
from policy.feedback.decision import Feedback
from policy.store import open_store
from scheduler import metrics
from scheduler.accounting import AccountingTailer
from scheduler.effects import Effects
from scheduler.supervisor import Supervisor
from tests.support.feedback import arf, dsn

ORIGIN = verp.Origin("acme", "<m1@acme-mail.com>", "bob@example.net", "192.0.2.10", "camp-1")
SENT = 1_800_000_000.0
CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0"


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture
async def store(tmp_path) -> AsyncIterator[object]:
    s = open_store(f"sqlite:///{tmp_path}/s.db")
    await s.open()
    yield s
    await s.close()


def feedback_of(raw: bytes, key: str, origin: verp.Origin = ORIGIN) -> Feedback:
    (report,) = parse(raw)
    return Feedback(origin, report, "dsn", key, time.time())


async def test_feedback_is_counted_by_tenant_kind_and_reason_once(store):
    hard = dict(tenant="acme", kind="bounced", reason="userunknown")
    complaint = dict(tenant="acme", kind="complained", reason="feedback")
    untraced = dict(tenant="-", kind="bounced", reason="userunknown")
    before = {k: value("sluice_feedback_total", **v) for k, v in
              (("hard", hard), ("complaint", complaint), ("untraced", untraced))}  # fmt: skip
    effects = Effects(store, FeedbackSettings)
    anonymous = verp.Origin("", "<m2@x>", "eve@example.net", "192.0.2.10")
    items = [
        feedback_of(dsn("b@bounce.example", "bob@example.net"), "k1"),
        feedback_of(arf("fbl@bounce.example", "bob@example.net", "x@y"), "k2"),
        feedback_of(dsn("b@bounce.example", "eve@example.net"), "k3", anonymous),
    ]
    decisions = await effects.apply(items)
    assert [d.event for d in decisions] == ["bounced", "complained", "bounced"]
    assert value("sluice_feedback_total", **hard) - before["hard"] == 1
    assert value("sluice_feedback_total", **complaint) - before["complaint"] == 1
    assert value("sluice_feedback_total", **untraced) - before["untraced"] == 1
    # The same feedback read again (a re-read file, a repeated webhook) counts nothing.
    await effects.apply(items)
    assert value("sluice_feedback_total", **hard) - before["hard"] == 1
    assert value("sluice_feedback_total", **complaint) - before["complaint"] == 1


def engagement(kind: str, at: float, user_agent: str, rcpt: str) -> Engagement:
    return Engagement(
        kind, "acme", "camp-7", "<1@x>", rcpt, at=at, sent_at=SENT, user_agent=user_agent
    )


async def test_engagement_is_counted_by_classification_once_written(store):
    def counted() -> Counter:
        return Counter(
            {
                (kind, label): value(
                    "sluice_engagement_total", tenant="acme", kind=kind, classification=label
                )
                for kind in ("open", "click", "unsubscribe")
                for label in ("human", "machine")
            }
        )

    before = counted()
    rec = EngagementRecorder(store, hold=0)
    rec.add(engagement("open", SENT + 3600, CHROME, "a@example.net"))
    rec.add(engagement("open", SENT + 1, "", "b@example.net"))  # a proxy's prefetch
    rec.add(engagement("click", SENT + 7200, CHROME, "a@example.net"))
    rec.add(engagement("unsubscribe", SENT + 7300, "", "a@example.net"))
    assert await rec.flush(everything=True) == 4
    rows = await store.recent_engagement()
    expected = Counter((row["kind"], row["classification"]) for row in rows)
    assert sum(expected.values()) == 4 and expected[("unsubscribe", "human")] == 1
    assert counted() - before == expected


async def test_a_task_reports_its_last_success_and_lag():
    tailer = AccountingTailer(
        None, None, lambda: None, lambda: "acct*.csv", lambda: None, lambda: None
    )
    started = time.time()
    async with Supervisor() as tasks:
        tasks.every("accounting", 0.05, tailer.poll)
        for _ in range(100):  # at most 5 s
            last = value("sluice_task_last_success_timestamp_seconds", task="accounting")
            if last >= started:
                break
            await asyncio.sleep(0.05)
    assert last >= started
    assert value("sluice_task_interval_seconds", task="accounting") == 0.05
    assert metrics.lag("accounting", now=last) == 0.0
    # Started long ago and silent since: the lag grows with the clock, scrape after scrape.
    metrics.task_started("accounting", 10.0, now=1000.0)
    assert metrics.lag("accounting", now=1005.0) == 0.0
    assert metrics.lag("accounting", now=1060.0) == 50.0
    assert value("sluice_task_lag_seconds", task="accounting") > started - 1010.0
    metrics.task_succeeded("accounting", 10.0)
    assert value("sluice_task_lag_seconds", task="accounting") == 0.0
