"""Every Redis key Sluice writes, and every counter name inside one, is built here.

A deployment's keys live under its configured base prefix (default
"sluice:"), followed by one of the kinds below, so `grep` here finds every
shape of key and `SCAN sluice:quota:*` finds every quota counter.

Each IP's quota counters name their window in the IP's calendar (the
tenant's time zone, else the warmup one), so a new day or hour starts from
zero without any reset job:

    day:192.0.2.12:2026-11-21                  the IP's total for the day
    hour:192.0.2.12:2026-11-21T14              its pacing for one hour (warming IPs)
    day:192.0.2.12:2026-11-21:google           its day for one provider group
    throttle:192.0.2.12:2026-11-21T14:google   an hour under a health throttle

The memory counters use the same names without a prefix.
"""

from __future__ import annotations

from datetime import date

DEFAULT_PREFIX = "sluice:"

# Quota counters, one per Limit key: quota:day:192.0.2.10:2026-11-21
QUOTA = "quota:"
# Markers of reservations taken and not yet committed or released: resv:<id>
RESERVATION = "resv:"
# Markers of counters whose window was counted from the store's events, so a
# counter lost with Redis's data is rebuilt once: seeded:day:192.0.2.10:2026-11-21
SEEDED = "seeded:"

# The kinds of quota counter (the Limit keys under QUOTA).
DAY = "day:"
HOUR = "hour:"
THROTTLE = "throttle:"


def quota(prefix: str, key: str) -> str:
    return f"{prefix}{QUOTA}{key}"


def reservation(prefix: str, reservation_id: str) -> str:
    return f"{prefix}{RESERVATION}{reservation_id}"


def seeded(prefix: str, key: str) -> str:
    return f"{prefix}{SEEDED}{key}"


def day(ip: str, today: date, group: str | None = None) -> str:
    """The IP's day counter, or its day toward one provider group."""
    base = f"{DAY}{ip}:{today.isoformat()}"
    return f"{base}:{group}" if group is not None else base


def hour(ip: str, today: date, hour_of_day: int) -> str:
    """The IP's counter for one hour of its day (warming IPs' pacing)."""
    return f"{HOUR}{ip}:{today.isoformat()}T{hour_of_day:02d}"


def throttle(ip: str, today: date, hour_of_day: int, provider: str) -> str:
    """The IP's counter for one hour under a health throttle toward `provider` (or all)."""
    return f"{THROTTLE}{ip}:{today.isoformat()}T{hour_of_day:02d}:{provider}"
