"""Whose clock a day of quota follows: the tenant's time zone, else the warmup one.

An IP's days (quota windows, warmup advances) follow the zone of the
tenant(s) whose pool it is in; the configuration refuses tenants that share
a pool but not a zone, so an IP never has two different "todays".
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from conf import Settings


def pool_zone(settings: Settings, pool: str) -> str:
    for t in settings.tenants:
        if t.pool == pool:
            return t.timezone or settings.warmup.timezone
    return settings.warmup.timezone


def pool_sending_hours(settings: Settings, pool: str) -> float:
    for t in settings.tenants:
        if t.pool == pool and t.sending_hours is not None:
            return t.sending_hours
    return settings.warmup.sending_hours


def local_today(zone: str, now: datetime) -> date:
    return now.astimezone(ZoneInfo(zone)).date()


def day_bounds(zone: str, day: date) -> tuple[float, float]:
    """The Unix times at which a local calendar day starts and ends."""
    tz = ZoneInfo(zone)
    start = datetime.combine(day, datetime.min.time(), tz)
    end = datetime.combine(date.fromordinal(day.toordinal() + 1), datetime.min.time(), tz)
    return start.timestamp(), end.timestamp()
