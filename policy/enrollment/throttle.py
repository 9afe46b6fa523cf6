"""The throttles of auto-enrollment: how many more may be enrolled now.

``max_per_hour`` counts the last 60 minutes (a rolling window) and
``max_per_day`` the tenant's calendar day in its time zone. A prospect past
either waits as ready; it is enrolled when a later round finds room.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from conf.schema.enrollment import TenantEnrollment

HOUR = 3600.0


def day_start(now: float, timezone: str) -> float:
    """The Unix time the tenant's day holding ``now`` began."""
    local = datetime.fromtimestamp(now, ZoneInfo(timezone))
    return local.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()


def room(s: TenantEnrollment, last_hour: int, today: int) -> int:
    """Enrollments still allowed now, given those of the last hour and of today."""
    return max(0, min(s.max_per_hour - last_hour, s.max_per_day - today))
