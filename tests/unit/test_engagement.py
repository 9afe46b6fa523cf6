"""Engagement events through both stores: batches, first opens, classification, the bus."""

import asyncio

import pytest

from policy.bus import Bus
from policy.engagement import Engagement, EngagementRecorder

SENT = 1_800_000_000.0
CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0"


def event(kind="open", *, at=SENT + 3600, rcpt="a@example.net", msg="<1@x>", **kw) -> Engagement:
    kw.setdefault("user_agent", CHROME)
    kw.setdefault("ip", "198.51.100.7")
    return Engagement(kind, "acme", "camp-7", msg, rcpt, at=at, sent_at=SENT, **kw)


async def test_the_store_says_which_opens_come_first(store):
    batch = [
        event(classification="machine", reason="apple_mpp"),
        event(at=SENT + 3700, classification="human"),
        event(at=SENT + 3800, classification="human"),  # a second human open: not first
        event("click", link_index=2, url="https://e.x/", classification="human"),
        event(rcpt="b@example.net", classification="human"),
    ]
    assert await store.record_engagement(batch) == [True, True, False, False, True]
    # Another host, later: the key is already taken.
    assert await store.record_engagement([event(at=SENT + 9000, classification="human")]) == [False]
    rows = await store.recent_engagement(limit=10, tenant="acme")
    assert len(rows) == 6 and rows[0]["at"] == SENT + 9000 and not rows[0]["first_open"]
    click = next(r for r in rows if r["kind"] == "click")
    assert (click["job"], click["link_index"], click["url"], click["user_agent"]) == (
        "camp-7",
        2,
        "https://e.x/",
        CHROME,
    )
    assert [bool(r["first_open"]) for r in reversed(rows)] == [
        True,
        True,
        False,
        False,
        True,
        False,
    ]
    assert await store.recent_engagement(tenant="nobody") == []


class FailingStore:
    def __init__(self) -> None:
        self.calls = 0

    async def record_engagement(self, events):
        self.calls += 1
        raise ConnectionError("database down")


async def test_recorder_classifies_after_the_hold_and_publishes_first_opens(store):
    now = {"t": SENT + 3600}
    bus = Bus()
    sub = bus.subscribe("open", "click")
    rec = EngagementRecorder(store, bus, hold=2.0, clock=lambda: now["t"])
    rec.add(event(at=now["t"] - 0.5, user_agent="Mozilla/5.0"))  # an Apple prefetch
    rec.add(event(at=now["t"] - 0.1))
    for i in range(3):  # a scanner: every link within a second
        rec.add(event("click", at=now["t"] + i * 0.3, link_index=i, url=f"https://e.x/{i}"))
    assert await rec.flush() == 0  # nothing is older than the hold yet
    now["t"] += 2.1
    # The opens are due, and so is the first click; its burst has arrived, so it is judged with it.
    assert await rec.flush() == 3
    got = [sub.queue.get_nowait() for _ in range(3)]
    assert [(e.kind, e.classification, e.reason, e.first_open) for e in got] == [
        ("open", "machine", "apple_mpp", True),
        ("open", "human", "", True),
        ("click", "machine", "burst", False),
    ]
    now["t"] += 5
    assert await rec.flush() == 2  # the rest of the burst, judged with the click already written
    assert {sub.queue.get_nowait().reason for _ in range(2)} == {"burst"}
    assert len(await store.recent_engagement()) == 5


async def test_a_store_outage_keeps_events_and_drops_the_oldest_when_full():
    failing = FailingStore()
    rec = EngagementRecorder(failing, capacity=3, hold=0, clock=lambda: SENT + 10**6)
    for i in range(5):
        rec.add(event(at=SENT + 3600 + i))
    assert rec.dropped == 2 and len(rec.pending) == 3
    with pytest.raises(ConnectionError):
        await rec.flush()
    assert len(rec.pending) == 3  # still waiting for the store


async def test_unsubscribes_are_never_discounted(store):
    rec = EngagementRecorder(store, hold=0)
    rec.add(event("unsubscribe", at=SENT + 1, user_agent="", reason="one_click"))
    assert await rec.flush(everything=True) == 1
    (row,) = await store.recent_engagement()
    assert (row["kind"], row["classification"], row["reason"]) == (
        "unsubscribe",
        "human",
        "one_click",
    )


class SlowStore:
    """The real store, whose answer comes back late: the batch is committed by then."""

    def __init__(self, store) -> None:
        self.store = store
        self.committed = asyncio.Event()

    async def record_engagement(self, events):
        flags = await self.store.record_engagement(events)
        self.committed.set()
        await asyncio.sleep(0.2)  # the late answer, during which the writer is cancelled
        return flags


async def test_cancelling_the_writer_mid_batch_neither_loses_nor_repeats_events(store):
    slow = SlowStore(store)
    rec = EngagementRecorder(slow, hold=0, batch=10, clock=lambda: SENT + 10**6)
    for i in range(25):
        rec.add(event(at=SENT + 3600 + i, rcpt=f"r{i}@example.net"))
    writer = asyncio.create_task(rec.flush())
    await asyncio.wait_for(slow.committed.wait(), 5)
    writer.cancel()  # what the daemon does at shutdown...
    await rec.flush(everything=True)  # ...before flushing the rest
    rows = await store.recent_engagement(limit=100)
    assert sorted(r["recipient"] for r in rows) == sorted(f"r{i}@example.net" for i in range(25))
