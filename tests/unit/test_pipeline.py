"""The pipeline is the story of a message: its order is pinned here on purpose."""

import asyncio
from types import SimpleNamespace

from gateway import pipeline, replies
from gateway.pipeline import Step, run_step

EXPECTED = [
    "connect.draining",
    "connect.limits",
    "connect.trusted_network",
    "mail.draining",
    "mail.authenticated",
    "mail.policy_current",
    "mail.kill_switch",
    "mail.address",
    "mail.sender_domain",
    "rcpt.authenticated",
    "rcpt.address",
    "rcpt.recipient_limit",
    "rcpt.suppression",
    "rcpt.warmup_quota",
    "data.line_endings",
    "data.parse_headers",
    "data.from_domain",
    "data.strip_internal",
    "data.message_id",
    "data.virtual_mta",
    "data.received",
    "data.verp_sender",
    "data.tracking",
    "data.list_unsubscribe",
    "data.feedback_id",
    "data.dkim_sign",
    "data.relay",
    "done.settle_quota",
    "done.record",
]


def test_pipeline_order_is_pinned():
    assert [s.name for s in pipeline.PIPELINE] == EXPECTED


def test_dkim_signs_after_every_other_change():
    names = [s.name for s in pipeline.PIPELINE]
    data = [n for n in names if n.startswith("data.")]
    assert data[-2:] == ["data.dkim_sign", "data.relay"]


def test_every_step_documents_itself():
    assert all(s.run.__doc__ for s in pipeline.PIPELINE)
    text = pipeline.describe()
    assert text.count("\n") == len(EXPECTED) - 1 and "rcpt.warmup_quota" in text


async def test_a_failing_step_is_451_never_5xx():
    async def boom(tx):
        raise RuntimeError("redis exploded: secret internals")

    async def hang(tx):
        await asyncio.sleep(10)

    tx = SimpleNamespace(id="t1.1", session=SimpleNamespace(id="t1"))
    assert await run_step(Step("rcpt.boom", boom), tx) is replies.INTERNAL_ERROR
    assert await run_step(Step("rcpt.hang", hang, timeout=0.01), tx) is replies.STEP_TIMEOUT
    assert str(replies.INTERNAL_ERROR).startswith("451 4.3.0")


def test_quota_is_settled_before_the_event_is_recorded():
    names = [s.name for s in pipeline.PIPELINE]
    assert names.index("done.settle_quota") < names.index("done.record")
