"""The sending IPs, their warmup schedules, and when a warming IP advances."""

from __future__ import annotations

from pydantic import Field

from conf.schema.base import Section
from conf.schema.rules import (
    HostName,
    HostPort,
    Hours,
    IpAddress,
    IsoDate,
    PositiveFloat,
    PositiveInt,
    Share,
    TimeZone,
)

# The schedules policy.warmup ships (DEFAULT_SCHEDULES); a test keeps the two in step.
BUILTIN_SCHEDULES = ("standard",)
# "default" is the schedule's total for the IP; the others are policy.providers' groups.
SCHEDULE_GROUPS = (
    "default",
    "google",
    "microsoft",
    "yahoo",
    "apple",
    "gmx_webde",
    "orange",
    "comcast",
    "other",
)


class AdvanceSettings(Section):
    # When a warming IP's day counts as healthy enough to advance (see
    # policy.warmup.Thresholds for where the defaults come from). Rates are shares:
    # 0.05 is 5 %.
    bounce_hold: Share = 0.05
    bounce_step_back: Share = 0.10
    complaint_hold: Share = 0.001
    complaint_step_back: Share = 0.003
    # Below this many messages a rate is taken over this many, so 1 bounce in 10 is not 10 %.
    min_sample: PositiveInt = 100
    # The share of the day's quota an IP must have used to advance.
    min_quota_share: Share = 0.5
    step_back_days: PositiveInt = 1
    # An IP silent this long (warm or warming) starts again at day 1.
    idle_restart_days: PositiveInt = 30

    def problems(self) -> list[tuple[str, str]]:
        out = []
        if self.bounce_hold > self.bounce_step_back:
            out.append(("bounce_hold", "must not exceed bounce_step_back"))
        if self.complaint_hold > self.complaint_step_back:
            out.append(("complaint_hold", "must not exceed complaint_step_back"))
        return out


class RotationSettings(Section):
    # Every this many days the pool's most-used warm IP retires: its share of new mail
    # falls to nothing over retire_hours, it rests rest_days, then warms again on
    # rewarm_schedule (a short one: its reputation is not new).
    every_days: PositiveInt = 30
    retire_hours: PositiveFloat = 24.0
    rest_days: PositiveInt = 7
    rewarm_schedule: str = "standard"
    # A retirement waits while it would leave fewer than this share of the pool's
    # enabled IPs warm (retiring, resting and re-warming ones do not count).
    min_warm_share: Share = 0.75


class WarmupSettings(Section):
    # name -> provider group -> daily limit per warmup day (day 1 first). These
    # add to (or replace, by name) the built-in schedules.
    schedules: dict[str, dict[str, tuple[int, ...]]] = Field(default_factory=dict)
    # A warming IP may send daily / sending_hours * burst messages in one hour.
    sending_hours: Hours = 16.0
    burst: PositiveFloat = 1.25
    # Where a day and an hour of quota start and end.
    timezone: TimeZone = "UTC"
    # The longest a recipient waits on the MX lookup that finds its provider.
    dns_budget: PositiveFloat = 0.5
    # The DNS server for those MX lookups, "host:port" (e.g. "127.0.0.1:53"), for
    # machines whose system resolver is not the one to use; null: the system's.
    resolver: HostPort | None = None
    # How the warmup clock judges a day, and how often it looks at the time.
    advance: AdvanceSettings = AdvanceSettings()
    clock_interval: PositiveFloat = 60.0
    # IP rotation per pool (pool name -> settings); a pool not named never rotates.
    rotation: dict[str, RotationSettings] = Field(default_factory=dict)

    def problems(self) -> list[tuple[str, str]]:
        out = []
        for name, groups in self.schedules.items():
            if "default" not in groups:
                out.append((f"schedules.{name}", 'a schedule needs a "default" list'))
            for group, limits in groups.items():
                out += _schedule_problems(f"schedules.{name}.{group}", group, limits)
        return out


def _schedule_problems(where: str, group: str, limits: tuple[int, ...]) -> list[tuple[str, str]]:
    out = []
    if group not in SCHEDULE_GROUPS:
        out.append((where, f"unknown group (known: {', '.join(SCHEDULE_GROUPS)})"))
    if not limits:
        out.append((where, "needs at least one day"))
    for day, value in enumerate(limits):
        if value < 1:
            out.append((f"{where}[{day}]", "must be greater than 0"))
        elif day and value < limits[day - 1]:
            # A drop is far more often a typo than a plan.
            out.append((f"{where}[{day}]", f"lower than the day before ({limits[day - 1]})"))
    return out


class IpWarmup(Section):
    # The first day of warming; the warmup day counts from it.
    started: IsoDate
    schedule: str = "standard"


class PoolIp(Section):
    ip: IpAddress
    vmta: str
    hostname: HostName
    enabled: bool = True
    # Absent: the IP is warm. Present: it follows the schedule until its end.
    warmup: IpWarmup | None = None
    # A cap on messages per day, warming or warm; absent on a warm IP: no limit.
    daily_limit: PositiveInt | None = None
