"""The warmup clock over a real store: each new local day judges yesterday once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import conf
from policy.events import Event
from policy.quota.states import IpState
from scheduler import warmup_clock

WARMING = "192.0.2.12"
WARM = "192.0.2.10"


def settings(started: str = "2026-11-20", timezone: str = "UTC", schedule: str = "standard"):
    text = f"""
warmup:
  timezone: {timezone}
  schedules:
    short: {{default: [10, 20, 40]}}
tenants:
  - {{name: acme, pool: acme, trusted_networks: [127.0.0.1/32], sender_domains: [a.example]}}
pools:
  acme:
    - {{ip: {WARM}, vmta: acme-1, hostname: h1}}
    - {{ip: {WARMING}, vmta: acme-3, hostname: h3,
       warmup: {{schedule: {schedule}, started: "{started}"}}}}
"""
    return conf.parse(text, environ={})


def at(day: int, hour: int = 12) -> datetime:
    return datetime(2026, 11, day, hour, tzinfo=UTC)


async def sent(store, when: datetime, count: int, kind: str = "relayed", ip: str = WARMING):
    events = [
        Event(
            kind=kind,
            tenant="acme",
            client="c",
            mail_from="m",
            recipients=(f"r{i}@x.net",),
            ip=ip,
            at=when.timestamp() + i * 0.001,
        )
        for i in range(count)
    ]
    await store.record(events)


async def test_first_sight_then_advance_hold_and_step_back(store):
    s = settings(started="2026-11-20")
    first = await warmup_clock.tick(s, store, at(21))
    assert {(c.ip, c.to_state.value, c.to_day) for c in first} == {
        (WARM, "warm", 0),
        (WARMING, "warming", 2),  # declared on the 20th: day 2 on the 21st
    }
    assert await warmup_clock.tick(s, store, at(21, 18)) == []  # same day: nothing more
    # Day 2 of the standard schedule allows 100: 80 relayed, clean, advances.
    await sent(store, at(21, 9), 80)
    [change] = await warmup_clock.tick(s, store, at(22, 0) + timedelta(minutes=1))
    assert (change.from_day, change.to_day) == (2, 3) and change.reason.startswith("advance")
    # A day without mail is not a sending day: it holds.
    [change] = await warmup_clock.tick(s, store, at(23))
    assert (change.to_day, change.reason) == (
        3,
        "hold: nothing sent: warmup advances in sending days",
    )
    # 200 sent, 2 complaints (1 %): over the 0.3 % ceiling, one day back.
    await sent(store, at(23, 10), 200)
    await sent(store, at(23, 11), 2, kind="complained")
    [change] = await warmup_clock.tick(s, store, at(24))
    assert (change.from_day, change.to_day) == (3, 2) and "complaint spike" in change.reason
    history = await store.ip_history(WARMING)
    assert [h.to_day for h in history] == [2, 3, 3, 2]
    assert all(h.actor == "warmup-clock" for h in history)


async def test_a_completed_schedule_graduates_to_warm(store):
    s = settings(started="2026-11-19", schedule="short")  # day 3 of 3 on the 21st
    await warmup_clock.tick(s, store, at(21))
    await sent(store, at(21, 9), 40)
    [change] = await warmup_clock.tick(s, store, at(22))
    assert change.to_state is IpState.WARM and change.reason.startswith("graduate")
    assert (await store.ip_states())[WARMING].state is IpState.WARM


async def test_a_health_hold_keeps_a_clean_day_from_advancing(store):
    from policy.quota.measures import ALL, HOLD, Measure

    s = settings(started="2026-11-20")
    await warmup_clock.tick(s, store, at(21))
    await sent(store, at(21, 9), 80)  # a clean day 2 that would advance
    reason = "complaint rate 0.25% over 24h to all providers (400 relayed)"
    until = at(22, 6).timestamp()
    await store.save_measure(Measure(WARMING, ALL, HOLD, 0, reason, at(21).timestamp(), until))
    [change] = await warmup_clock.tick(s, store, at(22, 1))
    assert (change.from_day, change.to_day) == (2, 2)
    assert change.reason == f"hold: health hold: {reason}"
    # The hold ran out: the next day's clean sending advances again.
    await sent(store, at(22, 9), 80)
    [change] = await warmup_clock.tick(s, store, at(23, 1))
    assert (change.from_day, change.to_day) == (2, 3)


async def test_a_warm_ip_silent_for_thirty_days_warms_again(store):
    s = settings()
    await sent(store, at(1) - timedelta(days=40), 5, ip=WARM)
    await warmup_clock.tick(s, store, at(21))  # first sight
    [change] = await warmup_clock.tick(s, store, at(21, 13))
    assert change.ip == WARM and change.to_state is IpState.WARMING and change.to_day == 1
    assert "idle" in change.reason


async def test_the_day_follows_the_tenant_time_zone(store):
    # 23:30 UTC on the 21st is already the 22nd in Paris.
    s = settings(started="2026-11-21", timezone="Europe/Paris")
    await warmup_clock.tick(s, store, at(21, 10))
    await sent(store, at(21, 11), 30)
    assert await warmup_clock.tick(s, store, at(21, 22)) == []  # 23:00 in Paris
    [change] = await warmup_clock.tick(s, store, at(21, 23) + timedelta(minutes=30))
    assert (change.from_day, change.to_day) == (1, 2)


async def test_two_clocks_decide_each_day_once(store):
    s = settings()
    await warmup_clock.tick(s, store, at(21))
    await sent(store, at(21, 9), 80)
    results = await asyncio.gather(*(warmup_clock.tick(s, store, at(22)) for _ in range(4)))
    assert sum(len(r) for r in results) == 1
    assert (await store.ip_states())[WARMING].day == 3
