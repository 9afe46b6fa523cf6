"""Where a batch goes: most room first within warming, then warm IPs; pacing across DST."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from policy.quota import capacity
from policy.quota.capacity import Room

PARIS = ZoneInfo("Europe/Paris")


def room(ip: str, today: int | None, *, warming: bool = False, hour=None, hourly=None) -> Room:
    return Room(ip, f"v-{ip}", warming, today, hour, hourly)


def test_most_room_first_levels_the_ips_of_one_kind():
    # One at a time from the IP with most room: 50 and 30 level down to 20 each first.
    assert capacity.level([50, 30, 10], 40) == [30, 10, 0]
    assert capacity.level([50, 30, 10], 45) == [33, 12, 0]  # ties at the level go in order
    assert capacity.level([5, 5], 3) == [2, 1]
    assert capacity.level([5, 5], 99) == [5, 5]


def test_warming_first_then_warm_and_unlimited_warm_ips_take_turns():
    rooms = [
        room("w1", 30, warming=True),
        room("w2", 10, warming=True),
        room("m1", 500),
        room("m2", None),
        room("m3", None),
    ]
    # w1 gives 20 to reach w2's 10, then the two alternate, w1 first.
    assert capacity.allocate(rooms, 25) == [23, 2, 0, 0, 0]
    # Past the warming IPs, the unlimited warm ones share the rest; the limited one waits.
    assert capacity.allocate(rooms, 45) == [30, 10, 0, 3, 2]


def test_pacing_counts_real_hours_on_the_night_clocks_go_back():
    # 2026-10-25 in Paris has 25 hours: from 22:00 to midnight there are still 2.
    local = datetime(2026, 10, 25, 21, 15, tzinfo=PARIS)
    day_ends = datetime(2026, 10, 26, tzinfo=PARIS)
    assert capacity.hours_after(local, day_ends)[1] == 2
    early = datetime(2026, 10, 25, 1, 30, tzinfo=PARIS)
    # 02:00 to midnight: 22 hours on the wall clock, 23 real ones (02:00-03:00 comes twice).
    assert capacity.hours_after(early, day_ends)[1] == 23
    assert capacity.room_today([100], 4, 10, 2) == 24  # the hours left bind, not the day
    plan = capacity.plan([room("w", 24, warming=True, hour=4, hourly=10)], 24, local, day_ends)
    assert (plan.fits, plan.this_hour, plan.done_by) == (True, 4, day_ends)
    assert plan.done_by is not None and plan.done_by.utcoffset().total_seconds() == 3600


def test_a_batch_too_big_says_what_is_short():
    local = datetime(2026, 11, 21, 9, 0, tzinfo=PARIS)
    day_ends = datetime(2026, 11, 22, tzinfo=PARIS)
    plan = capacity.plan([room("a", 10), room("b", 5)], 20, local, day_ends)
    assert (plan.fits, plan.capacity, plan.placed, plan.shortfall) == (False, 15, 15, 5)
    assert [s.emails for s in plan.shares] == [10, 5]
