"""IP selection: which limits each IP takes, and in which order the pool is tried."""

from datetime import UTC, datetime

import pytest

from conf import PoolIp
from conf.schema import BUILTIN_SCHEDULES, SCHEDULE_GROUPS, IpWarmup, WarmupSettings
from gateway import replies
from policy import providers
from policy.quota import selection
from policy.quota.selection import Planner
from policy.quota.warmup import DEFAULT_SCHEDULES

# 13:30 UTC is 14:30 in Paris; 2026-11-20 was day 1, so today is day 2.
NOW = datetime(2026, 11, 21, 13, 30, tzinfo=UTC)
SETTINGS = WarmupSettings(
    schedules={"gentle": {"default": (20, 40), "yahoo": (5, 10)}},
    timezone="Europe/Paris",
)
POOL = (
    PoolIp(ip="192.0.2.10", vmta="warm", hostname="h"),
    PoolIp(ip="192.0.2.11", vmta="capped", hostname="h", daily_limit=20000),
    PoolIp(ip="192.0.2.12", vmta="ramp", hostname="h", warmup=IpWarmup(started="2026-11-20")),
    PoolIp(ip="192.0.2.13", vmta="later", hostname="h", warmup=IpWarmup(started="2026-12-01")),
    PoolIp(ip="192.0.2.14", vmta="off", hostname="h", enabled=False),
    PoolIp(ip="192.0.2.15", vmta="graduated", hostname="h", warmup=IpWarmup(started="2026-01-01")),
    PoolIp(
        ip="192.0.2.16",
        vmta="gentle",
        hostname="h",
        warmup=IpWarmup(started="2026-11-21", schedule="gentle"),
        daily_limit=10,
    ),
)

# (recipient group) -> {vmta: ((kind, key, limit), ...)} for every IP in rotation.
LIMITS = {
    "other": {
        "warm": (),
        "capped": (("daily", "day:192.0.2.11:2026-11-21", 20000),),
        "ramp": (
            ("daily", "day:192.0.2.12:2026-11-21", 75),
            ("hourly", "hour:192.0.2.12:2026-11-21T14", 6),
        ),
        "graduated": (),
        "gentle": (
            ("daily", "day:192.0.2.16:2026-11-21", 10),
            ("hourly", "hour:192.0.2.16:2026-11-21T14", 1),
        ),
    },
    "google": {
        "warm": (),
        "capped": (("daily", "day:192.0.2.11:2026-11-21", 20000),),
        "ramp": (
            ("daily", "day:192.0.2.12:2026-11-21", 75),
            ("hourly", "hour:192.0.2.12:2026-11-21T14", 6),
            ("provider", "day:192.0.2.12:2026-11-21:google", 30),
        ),
        "graduated": (),
        "gentle": (
            ("daily", "day:192.0.2.16:2026-11-21", 10),
            ("hourly", "hour:192.0.2.16:2026-11-21T14", 1),
        ),
    },
    "yahoo": {
        "warm": (),
        "capped": (("daily", "day:192.0.2.11:2026-11-21", 20000),),
        "ramp": (
            ("daily", "day:192.0.2.12:2026-11-21", 75),
            ("hourly", "hour:192.0.2.12:2026-11-21T14", 6),
            ("provider", "day:192.0.2.12:2026-11-21:yahoo", 20),
        ),
        "graduated": (),
        "gentle": (
            ("daily", "day:192.0.2.16:2026-11-21", 10),
            ("hourly", "hour:192.0.2.16:2026-11-21T14", 1),
            ("provider", "day:192.0.2.16:2026-11-21:yahoo", 5),
        ),
    },
}


@pytest.mark.parametrize("group", sorted(LIMITS))
def test_limits_per_ip_and_group(group):
    got = {
        c.ip.vmta: tuple((q.kind, q.limit.key, q.limit.limit) for q in c.quotas)
        for c in Planner(SETTINGS).candidates(POOL, NOW, group)
    }
    assert got == LIMITS[group]


# (usage, turn) -> the order the pool is tried in, for a recipient at gmail.com.
ORDER = [
    # Nothing used: warming IPs by room (ramp 6 this hour, gentle 1), then warm:
    # unlimited ones (rotating) before the capped one.
    ({}, 0, ["ramp", "gentle", "warm", "graduated", "capped"]),
    ({}, 1, ["ramp", "gentle", "graduated", "warm", "capped"]),
    # The ramp's hour is spent: it has less room than gentle, and comes after it.
    ({"hour:192.0.2.12:2026-11-21T14": 6}, 0, ["gentle", "ramp", "warm", "graduated", "capped"]),
    # Its google day is nearly spent: 1 left, a tie with gentle broken by position.
    (
        {"day:192.0.2.12:2026-11-21:google": 29},
        0,
        ["ramp", "gentle", "warm", "graduated", "capped"],
    ),
]


@pytest.mark.parametrize(("usage", "turn", "expected"), ORDER)
def test_order_warming_first_then_by_headroom(usage, turn, expected):
    candidates = Planner(SETTINGS).candidates(POOL, NOW, "google")
    assert [c.ip.vmta for c in selection.order(candidates, usage, turn)] == expected


def test_usage_is_read_only_when_it_decides_the_order():
    planner = Planner(SETTINGS)
    # Two warming IPs with limits: their counts rank them.
    assert selection.usage_keys(planner.candidates(POOL, NOW, "other"))
    # One warming IP and unlimited warm ones: the order is known without counts.
    lone = (POOL[0], POOL[2])
    assert selection.usage_keys(planner.candidates(lone, NOW, "other")) == []
    # The embedded default: one warm IP, no limit, nothing to read or reserve.
    [local] = planner.candidates((POOL[0],), NOW, "other")
    assert local.limits == () and selection.usage_keys([local]) == []


def test_group_is_resolved_only_when_a_schedule_splits_by_provider():
    planner = Planner(SETTINGS)
    today = planner.local(NOW).date()
    assert planner.needs_group(POOL, today)
    assert not planner.needs_group((POOL[0], POOL[1], POOL[5]), today)


def test_full_quota_and_the_soonest_to_free():
    [ramp] = Planner(SETTINGS).candidates((POOL[2],), NOW, "google")
    assert selection.full_quota(ramp, {}) is None
    hourly = selection.full_quota(ramp, {"hour:192.0.2.12:2026-11-21T14": 6})
    assert hourly is not None and hourly.kind == "hourly"
    assert hourly.frees_at.isoformat() == "2026-11-21T15:00:00+01:00"
    daily = ramp.quota("day:192.0.2.12:2026-11-21")
    assert daily.frees_at.isoformat() == "2026-11-22T00:00:00+01:00"
    assert selection.soonest([daily, hourly]) is hourly
    assert selection.headroom(ramp, {"day:192.0.2.12:2026-11-21:google": 30}) == 0


def test_reply_names_the_limit_its_count_and_when_it_frees():
    [ramp] = Planner(SETTINGS).candidates((POOL[2],), NOW, "google")
    texts = {}
    for q in ramp.quotas:
        verdict = replies.quota_reached(
            q.kind,
            q.ip,
            warming=q.warming,
            group=q.group,
            used=q.limit.limit,
            limit=q.limit.limit,
            frees_at=q.frees_at,
        )
        assert (verdict.code, verdict.enhanced) == (451, "4.7.1")
        texts[q.kind] = verdict.text
    hourly = ramp.quota("hour:192.0.2.12:2026-11-21T14").limit.limit
    daily = next(q.limit.limit for q in ramp.quotas if q.kind == "daily")
    google = next(q.limit.limit for q in ramp.quotas if q.kind == "provider")
    assert texts == {
        "daily": f"Daily warmup limit of 192.0.2.12 used ({daily}/{daily});"
        " frees at 2026-11-22T00:00:00+01:00",
        "hourly": f"Hourly warmup limit of 192.0.2.12 used ({hourly}/{hourly});"
        " frees at 2026-11-21T15:00:00+01:00",
        "provider": f"Daily warmup limit of 192.0.2.12 for google used ({google}/{google});"
        " frees at 2026-11-22T00:00:00+01:00",
    }
    [capped] = Planner(SETTINGS).candidates((POOL[1],), NOW, "other")
    [q] = capped.quotas
    text = replies.quota_reached(
        q.kind, q.ip, warming=q.warming, group=None, used=7, limit=5, frees_at=q.frees_at
    ).text
    assert text.startswith("Daily limit of 192.0.2.11 used (7/5); frees at 2026-11-22T00:00:00")


def test_conf_knows_the_builtin_schedules_and_provider_groups():
    # conf may not import policy: these lists are kept in step by this test.
    assert set(BUILTIN_SCHEDULES) == set(DEFAULT_SCHEDULES)
    assert set(SCHEDULE_GROUPS) == {"default", *providers.GROUPS}


def test_a_tenant_with_fewer_sending_hours_gets_a_higher_hourly_pace():
    planner = Planner(SETTINGS)
    # Day 2 of the standard schedule is 75 a day: over 16 hours 6 an hour, over 8 hours 12.
    default = planner.candidates((POOL[2],), NOW, "other")[0].quota
    short = planner.candidates((POOL[2],), NOW, "other", sending_hours=8)[0].quota
    hour = "hour:192.0.2.12:2026-11-21T14"
    assert (default(hour).limit.limit, short(hour).limit.limit) == (6, 12)


def test_stored_states_take_ips_out_of_rotation_and_set_the_day():
    from policy.quota.ipstate import IpRecord
    from policy.quota.states import IpState

    states = {
        "192.0.2.10": IpRecord("192.0.2.10", IpState.PAUSED, 0, "2026-11-21"),
        "192.0.2.12": IpRecord("192.0.2.12", IpState.WARMING, 5, "2026-11-21"),
    }
    planner = Planner(SETTINGS)
    candidates = planner.candidates(POOL, NOW, "other", states=states)
    assert "warm" not in [c.ip.vmta for c in candidates]
    ramp = next(c for c in candidates if c.ip.vmta == "ramp")
    # Day 5 of the standard schedule (200), not the calendar's day 2.
    assert ramp.quota("day:192.0.2.12:2026-11-21").limit.limit == 200
    assert planner.out_of_rotation(POOL, NOW.date(), states) == ["192.0.2.10 paused"]
