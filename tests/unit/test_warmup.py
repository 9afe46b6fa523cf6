"""Warmup maths: schedules, hourly pacing, the IP state machine and day advancement.

The state table and the advancement rules are pinned by golden data files in
`golden/`, so a change of policy is a reviewed diff of data, not of asserts.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from policy.quota.states import IpEvent, IpState, Transition, TransitionError, apply, transition
from policy.quota.warmup import (
    DEFAULT_SCHEDULES,
    DEFAULT_THRESHOLDS,
    STANDARD,
    DayStats,
    Decision,
    Schedule,
    Thresholds,
    advance,
    hourly_limit,
    warmup_day,
)

GOLDEN = Path(__file__).parent / "golden"


def _load(name: str) -> Any:
    return yaml.safe_load((GOLDEN / name).read_text())


# --- schedules -------------------------------------------------------------


def test_standard_schedule_shape() -> None:
    assert DEFAULT_SCHEDULES["standard"] is STANDARD
    assert STANDARD.days == 42
    assert STANDARD.limit(1, "default") == 50
    assert STANDARD.limit(35, "default") == 5400
    assert 4000 <= STANDARD.limit(35, "default") <= 6000
    assert STANDARD.limit(42, "default") == 10000
    assert STANDARD.limit(43, "default") is None


@pytest.mark.parametrize("group", ["google", "microsoft", "yahoo"])
def test_big_providers_are_never_looser_than_default(group: str) -> None:
    for day in range(1, STANDARD.days + 1):
        assert STANDARD.limit(day, group) <= STANDARD.limit(day, "default")
    # Under Gmail's and Microsoft's 5,000/day lines for the whole ramp.
    assert STANDARD.limit(STANDARD.days, group) < 5000


def test_unknown_group_falls_back_to_default() -> None:
    assert STANDARD.limit(3, "apple") == STANDARD.limit(3, "default")
    assert STANDARD.limit(3, "other") == 100


def test_group_shorter_than_schedule_is_warm_past_its_end() -> None:
    schedule = Schedule("short", {"default": [10, 20, 30], "google": [5]})
    assert schedule.days == 3
    assert schedule.limit(1, "google") == 5
    assert schedule.limit(2, "google") is None
    assert schedule.limit(3, "default") == 30
    assert schedule.limit(4, "default") is None


def test_schedule_takes_lists_and_stays_frozen() -> None:
    schedule = Schedule("lists", {"default": [1, 2]})
    assert schedule.groups["default"] == (1, 2)
    with pytest.raises(TypeError):
        schedule.groups["x"] = (1,)  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        schedule.name = "other"  # type: ignore[misc]
    assert hash(schedule) == hash(Schedule("lists", {"default": [5]}))


@pytest.mark.parametrize(
    ("groups", "message"),
    [
        ({"google": [1]}, "needs a 'default' group"),
        ({"default": []}, "has no days"),
        ({"default": [10, 0]}, "day 2: limit must be a positive integer"),
        ({"default": [10, 2.5]}, "positive integer"),
        ({"default": [10, True]}, "positive integer"),
        ({"default": [50, 100, 10]}, "day 3: 10 is lower than day 2 (100)"),
    ],
)
def test_schedule_rejects_bad_data(groups: dict[str, list[Any]], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Schedule("bad", groups)


def test_limit_rejects_day_zero() -> None:
    with pytest.raises(ValueError, match="start at 1"):
        STANDARD.limit(0, "default")


# --- hourly pacing ----------------------------------------------------------


@pytest.mark.parametrize(
    ("daily", "hours", "burst", "expected"),
    [
        (50, 16, 1.25, 4),  # 3.90625 rounds up
        (160, 16, 1.25, 13),  # 12.5
        (128, 16, 1.25, 10),  # exactly 10: no spurious round-up
        (10000, 16, 1.25, 782),
        (1, 16, 1.25, 1),
        (0, 16, 1.25, 0),
        (100, 10, 1.0, 10),
        (1000, 16, 0.8, 50),  # 0.8 is taken as 4/5, not its binary neighbour
        (24, 24, 1.0, 1),
        (7, 24, 1.0, 1),
    ],
)
def test_hourly_limit(daily: int, hours: float, burst: float, expected: int) -> None:
    assert hourly_limit(daily, hours, burst) == expected


def test_hourly_limit_defaults() -> None:
    assert hourly_limit(400) == 32


@pytest.mark.parametrize(
    ("daily", "hours", "burst"), [(-1, 16, 1.0), (10, 0, 1.0), (10, 25, 1.0), (10, 16, 0)]
)
def test_hourly_limit_rejects_nonsense(daily: int, hours: float, burst: float) -> None:
    with pytest.raises(ValueError):
        hourly_limit(daily, hours, burst)


# --- warmup day -------------------------------------------------------------


def test_warmup_day_counts_sending_days_when_recorded() -> None:
    started, today = date(2026, 11, 1), date(2026, 11, 21)
    assert warmup_day(started, today, 0) == 1
    assert warmup_day(started, today, 7) == 8


def test_warmup_day_falls_back_to_calendar_days() -> None:
    assert warmup_day(date(2026, 11, 21), date(2026, 11, 21), None) == 1
    assert warmup_day(date(2026, 11, 1), date(2026, 11, 21), None) == 21


def test_warmup_day_rejects_future_start_and_negative_count() -> None:
    with pytest.raises(ValueError, match="after"):
        warmup_day(date(2026, 12, 1), date(2026, 11, 21), None)
    with pytest.raises(ValueError, match="negative"):
        warmup_day(date(2026, 11, 1), date(2026, 11, 21), -1)


# --- IP state machine -------------------------------------------------------

_TRANSITIONS = _load("ip_transitions.yaml")
_TABLE_CASES = [
    (state, event, expected)
    for state, events in _TRANSITIONS["table"].items()
    for event, expected in events.items()
]


def test_golden_table_covers_every_state_and_event() -> None:
    covered = {(s, e) for s, e, _ in _TABLE_CASES}
    assert covered == {(s.value, e.value) for s in IpState for e in IpEvent}


@pytest.mark.parametrize(("state", "event", "expected"), _TABLE_CASES)
def test_transition_table(state: str, event: str, expected: str) -> None:
    if expected == "error":
        with pytest.raises(TransitionError, match=f"cannot {event} an IP that is {state}"):
            transition(IpState(state), event)
    else:
        new, reason = transition(IpState(state), event)
        assert new == IpState(expected)
        assert reason


@pytest.mark.parametrize("case", _TRANSITIONS["resume"], ids=str)
def test_resume_returns_to_previous_sending_state(case: dict[str, str]) -> None:
    new, _ = transition(IpState(case["state"]), IpEvent.RESUME, previous=IpState(case["previous"]))
    assert new == IpState(case["expect"])


def test_transition_error_names_allowed_events() -> None:
    with pytest.raises(TransitionError) as info:
        transition(IpState.QUARANTINED, IpEvent.PAUSE)
    message = str(info.value)
    assert "cannot pause an IP that is quarantined" in message
    assert "clear" in message and "restart" in message


def test_unknown_event_is_a_transition_error() -> None:
    with pytest.raises(TransitionError, match="unknown IP event 'explode'"):
        transition(IpState.WARM, "explode")


def test_reason_carries_detail() -> None:
    new, reason = transition(IpState.WARM, IpEvent.BLACKLIST, detail="zen.spamhaus.org")
    assert new is IpState.QUARANTINED
    assert reason == "quarantined: listed on a blocklist (zen.spamhaus.org)"


def test_apply_builds_the_record() -> None:
    at = datetime(2026, 11, 21, 14, 0, tzinfo=UTC)
    record = apply("192.0.2.10", IpState.WARMING, "pause", actor="ops@example.com", at=at)
    assert record == Transition(
        ip="192.0.2.10",
        from_state=IpState.WARMING,
        to_state=IpState.PAUSED,
        reason="paused by operator",
        actor="ops@example.com",
        at=at,
    )


# --- advancement ------------------------------------------------------------

_ADVANCE = _load("warmup_advance.yaml")


@pytest.mark.parametrize("case", _ADVANCE, ids=[c["name"] for c in _ADVANCE])
def test_advance_golden(case: dict[str, Any]) -> None:
    thresholds = dataclasses.replace(DEFAULT_THRESHOLDS, **case.get("thresholds", {}))
    decision = advance(
        case["day"],
        DayStats(**case["stats"]),
        thresholds,
        schedule_days=case.get("schedule_days", STANDARD.days),
        idle_days=case.get("idle_days", 0),
    )
    expect = case["expect"]
    assert (decision.action, decision.new_day) == (expect["action"], expect["new_day"])
    assert expect.get("reason", "") in decision.reason


def test_advance_default_thresholds_are_the_documented_ones() -> None:
    t = Thresholds()
    assert (t.bounce_hold, t.complaint_hold, t.complaint_step_back) == (0.05, 0.001, 0.003)
    assert (t.min_sample, t.min_quota_share, t.step_back_days) == (100, 0.5, 1)
    assert t.idle_restart_days == 30


def test_advance_walks_the_whole_standard_schedule() -> None:
    day, steps = 1, 0
    while steps < 100:
        quota = STANDARD.limit(day, "default")
        decision = advance(day, DayStats(sent=quota or 1, quota=quota), schedule_days=STANDARD.days)
        steps += 1
        if decision.action == "graduate":
            break
        assert decision == Decision(day + 1, "advance", decision.reason)
        day = decision.new_day
    assert (day, steps) == (42, 42)
    assert STANDARD.limit(decision.new_day, "default") is None


@pytest.mark.parametrize(
    "kwargs",
    [
        {"bounce_hold": 0.2, "bounce_step_back": 0.1},
        {"complaint_hold": 0},
        {"min_sample": 0},
        {"min_quota_share": 1.5},
        {"step_back_days": 0},
        {"idle_restart_days": 0},
    ],
)
def test_thresholds_reject_nonsense(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        Thresholds(**kwargs)


def test_day_stats_reject_negative_counts() -> None:
    with pytest.raises(ValueError, match="bounced"):
        DayStats(sent=10, bounced=-1)


def test_advance_rejects_day_zero() -> None:
    with pytest.raises(ValueError):
        advance(0, DayStats(sent=1), schedule_days=42)
