"""Warmup maths: daily schedules, hourly pacing, day advancement (the IP states: `states`).

Everything here is pure: plain values in, plain values out. The warmup clock
(scheduler) reads yesterday's counts, asks `advance` what to do and stores the
answer; the gateway asks `Schedule.limit` and `hourly_limit` how much an IP may
carry today.

Where the numbers of the "standard" schedule come from:

- 50/day on day 1: the conservative column of SendGrid's manual warmup table.
  Its later steps (5,000 on day 4) and the "typical ESP" table (5,000 in week
  3, 10,000 in week 4) are too steep for a single IP with no history; the
  cold_email-engine table (10 weeks to 10,000) is the slow bound. Six weeks
  (about 5,000 by week 5, 10,000 on day 42) sits between them and outlasts the
  30 days that reputation systems remember (SendGrid; MailWizz's 30-day limit
  on warmup plans).
- One list per provider group, as in Halon's per-(IP, MX group) schedules and
  KumoMTA issue #326 (per-provider ramps, a default for unlisted providers).
- Google and Microsoft: 40 % of the standard ramp, ending at 4,000/day, under
  the 5,000/day line where Gmail makes a sender "bulk" for good and
  Microsoft's consumer domains start refusing mail that is not SPF, DKIM and
  DMARC aligned.
- Yahoo (and AOL): 30 %, because its TS02/TS03/TSS04 deferrals throttle or
  suspend new IPs for hours (KumoMTA's shaping rules for yahoodns.net).
- Past the last day the IP is warm. PowerMTA's own warmup aid is a static
  cold-VMTA cap (`max-cold-virtual-mta-msg`), so the ramp lives here, and the
  SendGrid/SparkPost-style overflow of excess mail to warm IPs is the job of
  IP selection.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from fractions import Fraction
from types import MappingProxyType
from typing import Literal

DEFAULT_GROUP = "default"


@dataclass(frozen=True)
class Schedule:
    """Daily message limits per provider group, indexed by warmup day (day 1 first).

    Lists are non-decreasing: a drop is far more often a typo than a plan, and
    the clock steps an IP back through `advance`, not through the schedule.
    """

    name: str
    groups: Mapping[str, tuple[int, ...]] = field(hash=False)

    def __post_init__(self) -> None:
        if DEFAULT_GROUP not in self.groups:
            raise ValueError(f"schedule {self.name!r} needs a {DEFAULT_GROUP!r} group")
        frozen: dict[str, tuple[int, ...]] = {}
        for group, limits in self.groups.items():
            values = tuple(limits)
            if not values:
                raise ValueError(f"schedule {self.name!r} group {group!r} has no days")
            for day, value in enumerate(values, start=1):
                if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                    raise ValueError(
                        f"schedule {self.name!r} group {group!r} day {day}: "
                        f"limit must be a positive integer, got {value!r}"
                    )
                if day > 1 and value < values[day - 2]:
                    raise ValueError(
                        f"schedule {self.name!r} group {group!r} day {day}: "
                        f"{value} is lower than day {day - 1} ({values[day - 2]})"
                    )
            frozen[group] = values
        object.__setattr__(self, "groups", MappingProxyType(frozen))

    @property
    def days(self) -> int:
        """The last scheduled day of any group; the day after it, the IP is warm."""
        return max(len(limits) for limits in self.groups.values())

    def limit(self, day: int, group: str) -> int | None:
        """The daily limit on `day` for `group`, or None once past the end (warm)."""
        if day < 1:
            raise ValueError(f"warmup days start at 1, got {day}")
        limits = self.groups.get(group, self.groups[DEFAULT_GROUP])
        return limits[day - 1] if day <= len(limits) else None


# The sources of these numbers are in the module docstring.
_STANDARD_DEFAULT = (
    *(50, 75, 100, 150, 200, 300, 400),
    *(500, 600, 700, 800, 900, 1000, 1200),
    *(1400, 1600, 1800, 2000, 2200, 2400, 2600),
    *(2800, 3000, 3200, 3400, 3600, 3800, 4000),
    *(4200, 4400, 4600, 4800, 5000, 5200, 5400),
    *(6000, 6600, 7200, 7800, 8500, 9200, 10000),
)
_STANDARD_BIG_MAILBOX = (
    *(20, 30, 40, 60, 80, 120, 160),
    *(200, 240, 280, 320, 360, 400, 480),
    *(560, 640, 720, 800, 880, 960, 1040),
    *(1120, 1200, 1280, 1360, 1440, 1520, 1600),
    *(1680, 1760, 1840, 1920, 2000, 2080, 2160),
    *(2400, 2640, 2880, 3120, 3400, 3680, 4000),
)
_STANDARD_YAHOO = (
    *(15, 20, 30, 45, 60, 90, 120),
    *(150, 180, 210, 240, 270, 300, 360),
    *(420, 480, 540, 600, 660, 720, 780),
    *(840, 900, 960, 1020, 1080, 1140, 1200),
    *(1260, 1320, 1380, 1440, 1500, 1560, 1620),
    *(1800, 1980, 2160, 2340, 2550, 2760, 3000),
)

STANDARD = Schedule(
    name="standard",
    groups={
        DEFAULT_GROUP: _STANDARD_DEFAULT,
        "google": _STANDARD_BIG_MAILBOX,
        "microsoft": _STANDARD_BIG_MAILBOX,
        "yahoo": _STANDARD_YAHOO,
    },
)

DEFAULT_SCHEDULES: Mapping[str, Schedule] = MappingProxyType({STANDARD.name: STANDARD})


def _exact(value: float) -> Fraction:
    # Through str so that 0.8 means 4/5, not the nearest binary float.
    return Fraction(str(value))


# Fractions make it exact and slow, and it runs for every recipient; a pool has a
# few dozen distinct daily limits.
@functools.lru_cache(maxsize=4096)
def hourly_limit(daily: int, sending_hours: float = 16, burst: float = 1.25) -> int:
    """Spread a daily limit over the sending hours, allowing a modest burst.

    Pacing over about 16 active hours (cold_email-engine's 7h-23h window) keeps
    an IP from spending its whole day in the first hour, as KumoMTA's
    `max_burst` does.
    """
    if daily < 0:
        raise ValueError(f"daily limit must be >= 0, got {daily}")
    if not 0 < sending_hours <= 24:
        raise ValueError(f"sending_hours must be in (0, 24], got {sending_hours}")
    if burst <= 0:
        raise ValueError(f"burst must be > 0, got {burst}")
    if daily == 0:
        return 0
    return max(1, math.ceil(daily * _exact(burst) / _exact(sending_hours)))


def warmup_day(started: date, today: date, sending_days_recorded: int | None) -> int:
    """Today's warmup day of an IP.

    The clock counts sending days (an irregular sender must not age into
    volume it never sent), so a recorded count wins. With no record yet, the
    calendar days since `started` stand in, as Halon's `added` date does.
    """
    if today < started:
        raise ValueError(f"warmup starts on {started}, after {today}")
    if sending_days_recorded is not None:
        if sending_days_recorded < 0:
            raise ValueError(f"sending days cannot be negative: {sending_days_recorded}")
        return sending_days_recorded + 1
    return (today - started).days + 1


@dataclass(frozen=True)
class DayStats:
    """One day of an IP: messages relayed, their bounces and complaints, the limit it had.

    `quota` is None when the day had no limit.
    """

    sent: int
    bounced: int = 0
    complained: int = 0
    quota: int | None = None

    def __post_init__(self) -> None:
        for name in ("sent", "bounced", "complained"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} cannot be negative")
        if self.quota is not None and self.quota < 0:
            raise ValueError("quota cannot be negative")


@dataclass(frozen=True)
class Thresholds:
    """When a day is healthy enough to advance, and when it calls for a step back.

    Complaints: Gmail asks senders to stay under 0.1 % and never reach 0.3 %.
    Bounces: 5 % is where Amazon SES starts a review; twice that is a spike.
    """

    bounce_hold: float = 0.05
    bounce_step_back: float = 0.10
    complaint_hold: float = 0.001
    complaint_step_back: float = 0.003
    min_sample: int = 100
    min_quota_share: float = 0.5
    step_back_days: int = 1
    idle_restart_days: int = 30

    def __post_init__(self) -> None:
        if not 0 < self.bounce_hold <= self.bounce_step_back:
            raise ValueError("need 0 < bounce_hold <= bounce_step_back")
        if not 0 < self.complaint_hold <= self.complaint_step_back:
            raise ValueError("need 0 < complaint_hold <= complaint_step_back")
        if self.min_sample < 1:
            raise ValueError("min_sample must be >= 1")
        if not 0 <= self.min_quota_share <= 1:
            raise ValueError("min_quota_share must be between 0 and 1")
        if self.step_back_days < 1 or self.idle_restart_days < 1:
            raise ValueError("step_back_days and idle_restart_days must be >= 1")


DEFAULT_THRESHOLDS = Thresholds()

Action = Literal["advance", "hold", "step_back", "graduate", "restart"]


@dataclass(frozen=True)
class Decision:
    new_day: int
    action: Action
    reason: str


def _reached(count: int, sent: int, min_sample: int, threshold: float) -> bool:
    # Below the minimum sample the rate is taken over min_sample messages, so one
    # bounce among ten messages does not read as a 10 % rate.
    return Fraction(count, max(sent, min_sample)) >= _exact(threshold)


def _pct(count: int, sent: int) -> str:
    return f"{count}/{sent} ({100 * count / sent:.2f} %)"


def advance(
    day: int,
    stats: DayStats,
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
    *,
    schedule_days: int,
    idle_days: int = 0,
) -> Decision:
    """What yesterday's sending means for a warming IP's day.

    `day` is the day yesterday ran at, `stats` its counts, `schedule_days` the
    schedule's length and `idle_days` the days since the IP last sent. Warm IPs
    are not advanced; bad signals quarantine them through `transition`.
    """
    if day < 1 or schedule_days < 1:
        raise ValueError(f"days start at 1 (day={day}, schedule_days={schedule_days})")
    t = thresholds
    if idle_days >= t.idle_restart_days and day > 1:
        return Decision(1, "restart", f"idle {idle_days} days: reputation has lapsed")
    if stats.sent == 0:
        return Decision(day, "hold", "nothing sent: warmup advances in sending days")
    bounces = _pct(stats.bounced, stats.sent)
    complaints = _pct(stats.complained, stats.sent)
    if _reached(stats.complained, stats.sent, t.min_sample, t.complaint_step_back):
        back = max(1, min(day, schedule_days + 1) - t.step_back_days)
        return Decision(back, "step_back", f"complaint spike: {complaints}")
    if _reached(stats.bounced, stats.sent, t.min_sample, t.bounce_step_back):
        back = max(1, min(day, schedule_days + 1) - t.step_back_days)
        return Decision(back, "step_back", f"bounce spike: {bounces}")
    if _reached(stats.complained, stats.sent, t.min_sample, t.complaint_hold):
        return Decision(day, "hold", f"complaints too high: {complaints}")
    if _reached(stats.bounced, stats.sent, t.min_sample, t.bounce_hold):
        return Decision(day, "hold", f"bounces too high: {bounces}")
    if stats.quota is not None and Fraction(stats.sent) < stats.quota * _exact(t.min_quota_share):
        return Decision(
            day,
            "hold",
            f"used {stats.sent} of {stats.quota}, under {t.min_quota_share:.0%} of the quota",
        )
    if day >= schedule_days:
        return Decision(schedule_days + 1, "graduate", f"healthy at day {day}, schedule done")
    return Decision(day + 1, "advance", f"healthy: bounces {bounces}, complaints {complaints}")
