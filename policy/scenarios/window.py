"""The send window: the first allowed instant at or after a time, DST-safe with zoneinfo.

A window is days of the week and a start and end time of day in a zone
(the scenario's, or the contact's own when it has one). Days are walked in
local dates, and each local start is turned into an instant by zoneinfo, so
a window on the day clocks change opens at the right instant: a start that
falls in the spring gap opens when the clock shows the time again after it.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from policy.scenarios.definition import Window

DAYS_AHEAD = 8  # a week and a day: every weekday set has one allowed day in it


def zone_for(window: Window, contact_zone: str = "") -> ZoneInfo:
    """The window's zone, or the contact's when the window says so and it is a real zone."""
    if window.contact_timezone and contact_zone:
        try:
            return ZoneInfo(contact_zone)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return ZoneInfo(window.timezone)


def _instant(day: datetime, minute: int, zone: ZoneInfo) -> float:
    if minute >= 1440:
        nxt = (day + timedelta(days=1)).date()
        return datetime.combine(nxt, time(0, 0), zone).timestamp()
    local = datetime.combine(day.date(), time(minute // 60, minute % 60), zone)
    # A wall time in the spring gap does not exist: round trip through UTC moves it past.
    return local.astimezone(UTC).timestamp()


def allowed(t: float, window: Window | None, contact_zone: str = "") -> bool:
    return window is None or next_allowed(t, window, contact_zone) == t


def next_allowed(t: float, window: Window | None, contact_zone: str = "") -> float:
    """The first instant >= ``t`` inside the window (``t`` itself when no window)."""
    if window is None:
        return t
    zone = zone_for(window, contact_zone)
    local = datetime.fromtimestamp(t, zone)
    days = window.day_numbers
    for n in range(DAYS_AHEAD):
        day = local + timedelta(days=n) if n else local
        day = datetime.combine(day.date(), time(12, 0), zone)
        if day.weekday() not in days:
            continue
        start = _instant(day, window.start_minute, zone)
        end = _instant(day, window.end_minute, zone)
        if t < end and start < end:
            return max(t, start)
    raise ValueError("the window allows no time in a week")  # weekdays() refuses an empty set


def window_end(t: float, window: Window | None, contact_zone: str = "") -> float | None:
    """When the window that holds ``t`` closes (None without a window)."""
    if window is None:
        return None
    zone = zone_for(window, contact_zone)
    day = datetime.combine(datetime.fromtimestamp(t, zone).date(), time(12, 0), zone)
    return _instant(day, window.end_minute, zone)
