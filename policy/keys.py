"""Every Redis key Sluice writes starts with a prefix from this module.

A deployment's keys live under its configured base prefix (default
"sluice:"), followed by one of the kinds below, so `grep` here finds every
shape of key and `SCAN sluice:quota:*` finds every quota counter.
"""

from __future__ import annotations

DEFAULT_PREFIX = "sluice:"

# Quota counters, one per Limit key: quota:day:192.0.2.10:2026-11-21
QUOTA = "quota:"
# Markers of reservations taken and not yet committed or released: resv:<id>
RESERVATION = "resv:"


def quota(prefix: str, key: str) -> str:
    return f"{prefix}{QUOTA}{key}"


def reservation(prefix: str, reservation_id: str) -> str:
    return f"{prefix}{RESERVATION}{reservation_id}"
