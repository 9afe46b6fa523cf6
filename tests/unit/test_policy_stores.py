"""Suppression, switches and IP states: one contract, PostgreSQL (real server) and SQLite."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime

from policy.events import Event
from policy.quota.ipstate import IpRecord, command, set_day
from policy.quota.states import IpState
from policy.suppression import GLOBAL, Removal, Suppression
from policy.switches import GLOBAL as ALL
from policy.switches import Switch

AT = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
TODAY = date(2026, 11, 21)


async def test_suppression_changes_follow_every_write_in_order(store):
    await store.suppress(
        [
            Suppression("acme", "A@Example.net", "hard_bounce", "dsn"),
            Suppression(GLOBAL, "b@example.net", "complaint", "arf"),
        ]
    )
    changes = await store.suppression_changes(0)
    assert [seq for seq, _ in changes] == [1, 2]
    assert changes[0][1].address == "a@example.net" and changes[0][1].reason == "hard_bounce"
    last = changes[-1][0]
    # Re-suppressing replaces the entry; removing leaves a tombstone the mirrors see.
    await store.suppress([Suppression("acme", "a@example.net", "unsubscribe", "link")])
    assert await store.unsuppress(GLOBAL, ["b@example.net", "nobody@example.net"]) == 1
    later = await store.suppression_changes(last)
    assert [type(c).__name__ for _, c in later] == ["Suppression", "Removal"]
    assert later[0][1].reason == "unsubscribe"
    assert later[1][1] == Removal(GLOBAL, "b@example.net")
    assert [s.address for s in await store.suppressions()] == ["a@example.net"]
    assert await store.suppressions("other") == []
    assert await store.suppression_changes(later[-1][0]) == []


async def test_concurrent_suppression_writers_never_share_a_sequence_number(store):
    async def write(i: int) -> None:
        await store.suppress(
            [Suppression("acme", f"u{i}-{j}@example.net", "manual") for j in range(5)]
        )

    await asyncio.gather(*(write(i) for i in range(8)))
    seqs = [seq for seq, _ in await store.suppression_changes(0)]
    assert seqs == list(range(1, 41))


async def test_switches_set_replace_and_clear(store):
    await store.set_switch(Switch("pause", "acme", "outage", "ops", 1.0))
    await store.set_switch(Switch("pause", "acme", "still out", "ops2", 2.0))
    await store.set_switch(Switch("dry_run", ALL, "", "ops", 3.0))
    assert await store.switches() == [
        Switch("dry_run", ALL, "", "ops", 3.0),
        Switch("pause", "acme", "still out", "ops2", 2.0),
    ]
    assert await store.clear_switch("pause", "acme") is True
    assert await store.clear_switch("pause", "acme") is False
    assert [s.kind for s in await store.switches()] == ["dry_run"]


async def test_ip_state_compare_and_set_with_its_history(store):
    first = IpRecord("192.0.2.12", IpState.WARMING, 3, TODAY.isoformat())
    paused, change = command(first, "pause", actor="ops", at=AT, today=TODAY)
    assert await store.save_ip(first, change, expect=None) is True
    # A second writer that read "no record" loses: the row exists now.
    assert await store.save_ip(first, change, expect=None) is False
    assert await store.save_ip(paused, change, expect=first) is True
    # Stale expectation: someone changed the record since it was read.
    assert await store.save_ip(first, change, expect=first) is False
    states = await store.ip_states()
    assert states["192.0.2.12"] == paused and paused.previous is IpState.WARMING
    resumed, back = command(paused, "resume", actor="ops", at=AT, today=TODAY)
    assert resumed.state is IpState.WARMING and resumed.day == 3
    assert await store.save_ip(resumed, back, expect=paused) is True
    moved, moved_change = set_day(resumed, 9, actor="ops", at=AT, today=TODAY)
    assert await store.save_ip(moved, moved_change, expect=resumed) is True
    history = await store.ip_history("192.0.2.12")
    assert [(h.to_state.value, h.to_day) for h in history][:2] == [("warming", 9), ("warming", 3)]
    assert history[0].reason == "warmup day set to 9" and history[0].at == AT


async def test_day_counts_count_recipients_by_kind(store):
    def event(kind: str, rcpts: int, at: float, ip: str = "192.0.2.12") -> Event:
        rcpt = tuple(f"r{i}@example.net" for i in range(rcpts))
        return Event(
            kind=kind, tenant="acme", client="c", mail_from="m", recipients=rcpt, ip=ip, at=at
        )

    await store.record(
        [
            event("relayed", 3, 100.0),
            event("relayed", 1, 150.0),
            event("bounced", 1, 160.0),
            event("relayed", 5, 250.0),  # outside the window
            event("relayed", 7, 120.0, ip="192.0.2.99"),
        ]
    )
    assert await store.day_counts("192.0.2.12", 100.0, 200.0) == {"relayed": 4, "bounced": 1}
    assert await store.last_sent("192.0.2.12") == 250.0
    assert await store.last_sent("192.0.2.1") is None
