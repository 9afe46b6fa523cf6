"""The scenario's pure decisions: definition checks, windows across DST, branches, A/B."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from policy.scenarios import ab, branch, window
from policy.scenarios.branch import Seen
from policy.scenarios.definition import Window, parse, seconds, weekdays

PARIS = ZoneInfo("Europe/Paris")
BODY = {
    "name": "intro-fr",
    "from": "Anna <anna@acme-mail.com>",
    "window": {"days": "mon-fri", "start": "09:00", "end": "17:30", "timezone": "Europe/Paris"},
    "daily_cap": 500,
    "cooldown": "3d",
    "stop_on": ["reply", "unsubscribe", "hard_bounce", "complaint"],
    "steps": [
        {"id": "intro", "trigger": "entry", "template": "intro"},
        {
            "id": "nudge",
            "parent": "intro",
            "trigger": "not_opened",
            "delay": "3d",
            "variants": [
                {"template": "nudge-a", "weight": 60},
                {"template": "nudge-b", "weight": 40},
            ],
        },
    ],
}


def paris(*args: int) -> float:
    return datetime(*args, tzinfo=PARIS).timestamp()  # type: ignore[misc]


def test_the_issue_body_parses():
    s = parse(BODY)
    assert s.sender == "anna@acme-mail.com" and s.window is not None
    assert s.window.day_numbers == (0, 1, 2, 3, 4)
    assert s.children("intro")[0].delay_seconds == 3 * 86400


@pytest.mark.parametrize(
    ("text", "value"), [("45s", 45), ("3h", 10800), ("2d", 172800), ("10m", 600), (30, 30)]
)
def test_durations(text, value):
    assert seconds(text) == value


def test_days():
    assert weekdays("sat-mon") == (0, 5, 6)
    assert weekdays(["mon", "wed"]) == (0, 2)
    with pytest.raises(ValueError, match="funday"):
        weekdays("funday")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"cooldown": "3x"}, "cooldown"),
        ({"window": {"timezone": "Mars/Base"}}, "window.timezone"),
        ({"window": {"start": "18:00", "end": "09:00"}}, "window"),
        ({"daily_cap": 0}, "daily_cap"),
        ({"stop_on": ["rain"]}, "stop_on.0"),
    ],
)
def test_errors_name_the_field(change, field):
    with pytest.raises(ValidationError) as err:
        parse({**BODY, **change})
    locs = [".".join(str(x) for x in e["loc"]) for e in err.value.errors()]
    assert field in locs


def test_tree_rules_name_the_step():
    bad = {
        **BODY,
        "steps": [
            {"id": "a", "trigger": "entry", "template": "t"},
            {"id": "b", "trigger": "delay", "parent": "zz", "template": "t"},
            {"id": "c", "trigger": "not_opened", "parent": "a", "template": "t"},
            {"id": "d", "trigger": "delay", "parent": "a", "template": "t"},
        ],
    }
    with pytest.raises(ValidationError) as err:
        parse(bad)
    text = str(err.value)
    assert "steps[1].parent: 'zz' is not a step" in text and "steps[3].trigger" in text


def test_window_inside_before_and_after():
    w = Window(days="mon-fri", start="09:00", end="17:30", timezone="Europe/Paris")
    friday_noon = paris(2026, 3, 27, 12, 0)
    assert window.next_allowed(friday_noon, w) == friday_noon
    assert window.next_allowed(paris(2026, 3, 27, 7, 0), w) == paris(2026, 3, 27, 9, 0)
    # Friday after the end: Monday 09:00 (after the spring change on Sunday 29 March).
    monday = window.next_allowed(paris(2026, 3, 27, 18, 0), w)
    assert monday == paris(2026, 3, 30, 9, 0)
    assert datetime.fromtimestamp(monday, UTC).hour == 7  # CEST: UTC+2


def test_window_across_autumn_dst_and_contact_zone():
    w = Window(days="sun", start="09:00", end="10:00", timezone="Europe/Paris")
    sunday = window.next_allowed(paris(2026, 10, 24, 12, 0), w)  # clocks go back on the 25th
    assert sunday == paris(2026, 10, 25, 9, 0)
    assert datetime.fromtimestamp(sunday, UTC).hour == 8  # CET: UTC+1
    own = Window(days="mon-sun", start="09:00", end="10:00", contact_timezone=True)
    t = datetime(2026, 6, 1, 12, 0, tzinfo=UTC).timestamp()
    ny = window.next_allowed(t, own, "America/New_York")
    assert datetime.fromtimestamp(ny, ZoneInfo("America/New_York")).hour == 9
    assert (
        window.next_allowed(t, own, "Not/AZone") == datetime(2026, 6, 2, 9, tzinfo=UTC).timestamp()
    )


def test_window_start_in_the_spring_gap():
    w = Window(days="sun", start="02:30", end="04:00", timezone="Europe/Paris")
    opened = window.next_allowed(paris(2026, 3, 28, 12, 0), w)
    local = datetime.fromtimestamp(opened, PARIS)
    assert (local.day, local.hour, local.minute) == (29, 3, 30)


def steps(*children: dict) -> list:
    s = parse({**BODY, "steps": [{"id": "p", "trigger": "entry", "template": "t"}, *children]})
    return s.children("p")


def test_human_open_machine_open_and_none():
    kids = steps(
        {"id": "o", "parent": "p", "trigger": "opened", "delay": "1h", "template": "t"},
        {"id": "n", "parent": "p", "trigger": "not_opened", "delay": "2d", "template": "t"},
    )
    human = [Seen("open", 500.0, "human")]
    machine = [Seen("open", 10.0, "machine")]
    assert branch.decide(kids, 0.0, 600.0, human) == branch.Choice("o", 4100.0, "human open")
    assert branch.decide(kids, 0.0, 600.0, machine) is None  # wait for the deadline
    late = branch.decide(kids, 0.0, 2 * 86400.0, machine)
    assert late is not None and late.step == "n"
    assert branch.decide(kids, 0.0, 2 * 86400.0, []) == branch.Choice(
        "n", 172800.0, "no human open"
    )


def test_clicks_on_a_given_link():
    kids = steps(
        {
            "id": "pr",
            "parent": "p",
            "trigger": "clicked",
            "link": "https://x/pricing",
            "template": "t",
        },
        {"id": "any", "parent": "p", "trigger": "clicked", "template": "t"},
        {"id": "nc", "parent": "p", "trigger": "not_clicked", "delay": "1d", "template": "t"},
    )
    assert branch.decide(kids, 0, 5, [Seen("click", 3, "human", "https://x/blog")]).step == "any"
    both = [
        Seen("click", 3, "human", "https://x/blog"),
        Seen("click", 4, "human", "https://x/pricing"),
    ]
    assert branch.decide(kids, 0, 5, both).step == "pr"
    scanner = [Seen("click", 1, "machine", "https://x/pricing")]
    assert branch.decide(kids, 0, 86400, scanner).step == "nc"


def test_a_leaf_ends_and_only_positive_children_wait_their_horizon():
    assert branch.decide([], 0, 5, []) == branch.Choice(None, 5, "last step")
    kids = steps({"id": "o", "parent": "p", "trigger": "opened", "template": "t"})
    assert branch.decide(kids, 0, 86400, []) is None
    assert branch.decide(kids, 0, branch.POSITIVE_WAIT, []).step is None


def test_ab_assignment_is_stable_and_follows_weights():
    picks = Counter(ab.assign(f"e{i}", "nudge", [60, 40]) for i in range(10_000))
    assert ab.assign("e1", "nudge", [60, 40]) == ab.assign("e1", "nudge", [60, 40])
    assert 5700 <= picks[0] <= 6300 and picks[0] + picks[1] == 10_000


def test_winner_needs_the_sample_and_the_confidence():
    assert ab.winner([30, 20], [100, 50], min_sample=200, confidence=0.95) is None
    assert ab.winner([110, 100], [500, 500], min_sample=200, confidence=0.95) is None
    d = ab.winner([100, 150], [500, 500], min_sample=200, confidence=0.95)
    assert d is not None and d.winner == 1 and d.p_value < 0.01
    assert ab.z_test(100, 500, 150, 500).z == pytest.approx(
        -3.651, abs=0.001
    )  # 0.1 / sqrt(0.25*0.75*2/500)
