"""Where a batch of messages would go today, and when the pool has room again.

Pure: each IP's room (in the order the gateway tries them) and a count in,
a share per IP out. The gateway takes the IP with the most room first,
warming IPs before warm ones, so a batch levels the IPs of one kind down
rather than filling them one after another; warm IPs without a limit are
never full and take turns. Hourly pacing limits what a warming IP can still
send before the day ends, so late in the day its room is less than its
daily limit says.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta


@dataclass(frozen=True)
class Room:
    """What one IP in rotation can still take."""

    ip: str
    vmta: str
    warming: bool
    today: int | None  # messages before the day ends, under every limit (None: no limit)
    hour: int | None  # of which in the current hour (None: no hourly limit)
    hourly: int | None  # its limit in each later hour


def room_today(
    limits_left: Sequence[int | None], hour: int | None, hourly: int | None, hours_after: int
) -> int | None:
    """The least of the day's limits left and what hourly pacing lets through by midnight."""
    values = [v for v in limits_left if v is not None]
    if hour is not None and hourly is not None:
        values.append(hour + hourly * hours_after)
    return max(0, min(values)) if values else None


def hours_after(local: datetime, day_ends: datetime) -> tuple[datetime, int]:
    """The start of the next local hour and the whole hours from it to the end of the day."""
    start = local.replace(minute=0, second=0, microsecond=0)
    # In UTC: wall-clock arithmetic on an aware time skips or repeats an hour at DST changes.
    following = (start.astimezone(UTC) + timedelta(hours=1)).astimezone(local.tzinfo)
    return following, max(0, int(day_ends.timestamp() - following.timestamp()) // 3600)


@dataclass(frozen=True)
class Share:
    room: Room
    emails: int
    this_hour: int  # of `emails`, what can go before the current hour ends
    done_by: datetime | None  # when the hour that takes its last message ends; None: this hour


@dataclass(frozen=True)
class SendPlan:
    emails: int
    capacity: int | None  # what the pool can still take today (None: no limit)
    shares: tuple[Share, ...]  # in the order the gateway would use the IPs
    next_hour_at: datetime
    day_ends_at: datetime  # when the daily limits start again from zero
    out_of_rotation: tuple[tuple[str, str], ...] = ()  # (ip, why) of the IPs not used

    @property
    def placed(self) -> int:
        return sum(s.emails for s in self.shares)

    @property
    def shortfall(self) -> int:
        return self.emails - self.placed

    @property
    def fits(self) -> bool:
        return self.shortfall == 0

    @property
    def this_hour(self) -> int:
        return sum(s.this_hour for s in self.shares)

    @property
    def paced(self) -> bool:
        """Whether hourly limits spread the batch over more than the current hour."""
        return any(s.done_by is not None for s in self.shares)

    @property
    def done_by(self) -> datetime | None:
        return max((s.done_by for s in self.shares if s.done_by is not None), default=None)


def plan(rooms: Sequence[Room], emails: int, local: datetime, day_ends: datetime) -> SendPlan:
    """Share `emails` over `rooms` (in the gateway's order) as the gateway would place them."""
    if emails < 1:
        raise ValueError(f"emails must be a positive integer, got {emails}")
    next_hour, _ = hours_after(local, day_ends)
    takes = allocate(rooms, emails)
    shares = []
    for room, emails_here in zip(rooms, takes, strict=True):
        now = emails_here if room.hour is None else min(emails_here, room.hour)
        done_by = None
        if emails_here > now and room.hourly:
            later = math.ceil((emails_here - now) / room.hourly)
            done_by = (next_hour.astimezone(UTC) + timedelta(hours=later)).astimezone(local.tzinfo)
        shares.append(Share(room, emails_here, now, done_by))
    limited = [r.today for r in rooms]
    capacity = None if any(t is None for t in limited) else sum(t or 0 for t in limited)
    return SendPlan(emails, capacity, tuple(shares), next_hour, day_ends)


def allocate(rooms: Sequence[Room], emails: int) -> list[int]:
    """How many of `emails` each room takes: warming first, then warm, most room first."""
    takes = [0] * len(rooms)
    left = emails
    for warming in (True, False):
        kind = [i for i, r in enumerate(rooms) if r.warming is warming]
        unlimited = [i for i in kind if rooms[i].today is None]
        if unlimited:
            # Never full, so the rest rotates over them and no later IP is reached.
            each, extra = divmod(left, len(unlimited))
            for n, i in enumerate(unlimited):
                takes[i] = each + (1 if n < extra else 0)
            return takes
        got = level([rooms[i].today or 0 for i in kind], left)
        for i, n in zip(kind, got, strict=True):
            takes[i] = n
        left -= sum(got)
    return takes


def level(rooms: Sequence[int], n: int) -> list[int]:
    """Take `n` units one at a time, each from the room with the most left (ties: in order)."""
    if n >= sum(rooms):
        return list(rooms)
    # The lowest level L that taking everything above it stays within n.
    low, high = 0, max(rooms)
    while low < high:
        mid = (low + high) // 2
        if sum(max(0, r - mid) for r in rooms) <= n:
            high = mid
        else:
            low = mid + 1
    takes = [max(0, r - low) for r in rooms]
    extra = n - sum(takes)
    for i, r in enumerate(rooms):
        if extra == 0:
            break
        if r >= low:
            takes[i] += 1
            extra -= 1
    return takes
