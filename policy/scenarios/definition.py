"""A scenario as the API receives it: pydantic models, every error naming its field.

The steps form a tree under one ``entry`` step; each other step names its
``parent`` and the trigger that leads to it. ``check`` adds the rules a
single field cannot state (one entry, known parents, one branch per
decision), each as (field path, text).
"""

from __future__ import annotations

import functools
import re
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

TRIGGERS = ("entry", "opened", "clicked", "not_opened", "not_clicked", "delay")
POSITIVE = ("clicked", "opened")  # fire once a human event of the parent's message is seen
StopRule = Literal["reply", "unsubscribe", "hard_bounce", "complaint"]
STOP_RULES: tuple[StopRule, ...] = ("reply", "unsubscribe", "hard_bounce", "complaint")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DURATION = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def seconds(text: str | int) -> int:
    """``"45s"``, ``"3h"``, ``"2d"`` (or plain seconds) as seconds; ValueError otherwise."""
    if isinstance(text, int) and not isinstance(text, bool):
        if text < 0:
            raise ValueError("a duration cannot be negative")
        return text
    m = _DURATION.match(str(text))
    if m is None:
        raise ValueError(f"{text!r} is not a duration like 45s, 10m, 3h or 2d")
    return int(m.group(1)) * _UNIT[m.group(2)]


def weekdays(text: str | list[str]) -> tuple[int, ...]:
    """``"mon-fri"``, ``"mon,wed,fri"``, ``["sat", "sun"]`` or ``"daily"`` as weekday numbers."""
    parts = text if isinstance(text, list) else str(text).lower().replace(" ", "").split(",")
    if parts in (["daily"], ["*"], ["all"]):
        return tuple(range(7))
    days: set[int] = set()
    for part in parts:
        first, _, last = part.strip().lower().partition("-")
        if first not in DAYS or (last and last not in DAYS):
            raise ValueError(f"{part!r} is not a day or range of days (mon..sun)")
        a, b = DAYS.index(first), DAYS.index(last or first)
        days.update(range(a, b + 1) if a <= b else [*range(a, 7), *range(0, b + 1)])
    if not days:
        raise ValueError("no day given")
    return tuple(sorted(days))


def minute_of_day(text: str) -> int:
    m = _CLOCK.match(text)
    if m is None:
        raise ValueError(f"{text!r} is not a time like 09:00")
    return int(m.group(1)) * 60 + int(m.group(2))


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Window(_Model):
    days: str | list[str] = "mon-sun"
    start: str = "00:00"
    end: str = "24:00"
    timezone: str = "UTC"
    contact_timezone: bool = False  # the contact's own zone when it has one

    @field_validator("days")
    @classmethod
    def _days(cls, v: str | list[str]) -> str | list[str]:
        weekdays(v)
        return v

    @field_validator("start")
    @classmethod
    def _start(cls, v: str) -> str:
        minute_of_day(v)
        return v

    @field_validator("end")
    @classmethod
    def _end(cls, v: str) -> str:
        if v != "24:00":
            minute_of_day(v)
        return v

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"{v!r} is not an IANA time zone") from exc
        return v

    @model_validator(mode="after")
    def _order(self) -> Window:
        if self.end_minute <= self.start_minute:
            raise ValueError("end must be after start (a window within one day)")
        return self

    @property
    def start_minute(self) -> int:
        return minute_of_day(self.start)

    @property
    def end_minute(self) -> int:
        return 1440 if self.end == "24:00" else minute_of_day(self.end)

    @property
    def day_numbers(self) -> tuple[int, ...]:
        return weekdays(self.days)


class Filters(_Model):
    """The recipient filter (policy.scenarios.contacts.ContactFilter's fields)."""

    tags: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    countries: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    min_score: float | None = None
    min_validation_score: float | None = None
    deliverable_only: bool = False
    excluded_domains: tuple[str, ...] = ()
    status: str | None = "active"


class Variant(_Model):
    template: str = Field(min_length=1, max_length=200)
    weight: int = Field(default=1, ge=0, le=1_000_000)


class Step(_Model):
    id: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$")
    trigger: Literal["entry", "opened", "clicked", "not_opened", "not_clicked", "delay"]
    parent: str | None = None
    delay: str | int = 0
    link: str | None = None  # clicked / not_clicked: only a click on this URL counts
    template: str | None = None
    variants: tuple[Variant, ...] = ()

    @field_validator("delay")
    @classmethod
    def _delay(cls, v: str | int) -> str | int:
        seconds(v)
        return v

    @model_validator(mode="after")
    def _content(self) -> Step:
        if bool(self.template) == bool(self.variants):
            raise ValueError("a step has either a template or variants, not both nor neither")
        if self.variants and sum(v.weight for v in self.variants) <= 0:
            raise ValueError("variants: the weights must not all be 0")
        if self.link is not None and self.trigger not in ("clicked", "not_clicked"):
            raise ValueError("link: only for the clicked and not_clicked triggers")
        return self

    @property
    def delay_seconds(self) -> int:
        return seconds(self.delay)

    @functools.cached_property  # read at every send; a definition never changes
    def choices(self) -> tuple[Variant, ...]:
        return self.variants or (Variant(template=self.template or "", weight=1),)


class AutoWinner(_Model):
    min_sample: int = Field(default=200, ge=10)
    confidence: float = Field(default=0.95, gt=0.5, lt=1.0)
    metric: Literal["opened", "clicked"] = "opened"


class FirstLineBrief(_Model):
    """What Claude is asked for the first line of this scenario's entry templates."""

    instruction: str = Field(min_length=1, max_length=1000)
    # The line used when no line can be written (no key, budget spent, a refused line).
    fallback: str = Field(min_length=1, max_length=300)


class AutoEnroll(_Model):
    """The scenario takes prospects from auto-enrollment (``scheduler/enrollment.py``)."""

    tiers: tuple[int, ...] = ()  # the prospect tiers it is meant for; empty: any
    first_line: FirstLineBrief | None = None  # absent: no first line is written


class Scenario(_Model):
    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$")
    from_: str = Field(alias="from", min_length=3)
    reply_to: str | None = None
    window: Window | None = None
    daily_cap: int | None = Field(default=None, ge=1)
    cooldown: str | int = 0
    filters: Filters = Filters()
    stop_on: tuple[StopRule, ...] = STOP_RULES
    priority: int = 0
    max_contacts: int | None = Field(default=None, ge=1)
    pacing: str | int = 0  # the least time between two sends of this scenario
    queue_behind: str | None = None
    start_at: float | None = None
    auto_winner: AutoWinner | None = None
    # The tenant's default scenario: held while another of its scenarios is active,
    # released when the last one ends (at most one per tenant).
    pauses_while_filtered: bool = False
    # Runs beside the tenant's default scenario without holding it.
    side_by_side: bool = False
    # Absent: auto-enrollment never chooses this scenario.
    auto_enroll: AutoEnroll | None = None
    steps: tuple[Step, ...] = Field(min_length=1)

    @field_validator("cooldown", "pacing")
    @classmethod
    def _duration(cls, v: str | int) -> str | int:
        seconds(v)
        return v

    @model_validator(mode="after")
    def _tree(self) -> Scenario:
        problems = tree_problems(self.steps)
        if problems:
            raise TreeError(problems)
        return self

    @property
    def sender(self) -> str:
        """The envelope sender: the address inside From."""
        return self.from_.rsplit("<", 1)[-1].rstrip(">").strip()

    def step(self, step_id: str) -> Step:
        return next(s for s in self.steps if s.id == step_id)

    def children(self, step_id: str) -> list[Step]:
        return [s for s in self.steps if s.parent == step_id]

    def entry(self) -> Step:
        return next(s for s in self.steps if s.trigger == "entry")


class TreeError(ValueError):
    """The steps' tree problems, each with the path of the field it names."""

    def __init__(self, problems: list[tuple[str, str]]):
        super().__init__("; ".join(f"{path}: {text}" for path, text in problems))
        self.problems = problems


def tree_problems(steps: tuple[Step, ...]) -> list[tuple[str, str]]:
    """What makes the steps not one tree with one branch per decision."""
    problems: list[tuple[str, str]] = []
    ids = [s.id for s in steps]
    for i, s in enumerate(steps):
        where = f"steps[{i}]"
        if ids.count(s.id) > 1:
            problems.append((f"{where}.id", f"{s.id!r} is used twice"))
        if s.trigger == "entry" and s.parent is not None:
            problems.append((f"{where}.parent", "the entry step has no parent"))
        if s.trigger != "entry" and s.parent is None:
            problems.append((f"{where}.parent", f"a {s.trigger} step needs a parent step"))
        elif s.trigger != "entry" and s.parent not in ids:
            problems.append((f"{where}.parent", f"{s.parent!r} is not a step of this scenario"))
    if sum(1 for s in steps if s.trigger == "entry") != 1:
        problems.append(("steps", "exactly one step has the entry trigger"))
    for parent in ids:
        kids = [(i, s) for i, s in enumerate(steps) if s.parent == parent]
        seen: set[tuple[str, str | None]] = set()
        for i, s in kids:
            key = (s.trigger, s.link)
            if key in seen:
                problems.append((f"steps[{i}].trigger", f"two {s.trigger} branches of {parent!r}"))
            seen.add(key)
        fallback = [s for _, s in kids if s.trigger not in POSITIVE]
        if len(fallback) > 1:
            i = kids[-1][0]
            problems.append(
                (
                    f"steps[{i}].trigger",
                    f"{parent!r} has more than one of not_opened,"
                    " not_clicked and delay: only one branch fires per decision",
                )
            )
    return problems


def parse(body: Any) -> Scenario:
    """The scenario of an API body; pydantic's ValidationError names each field."""
    return Scenario.model_validate(body)
