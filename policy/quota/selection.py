"""Which IP of a pool carries a message now, and under which limits.

Pure: settings, a time and counts in; limits and an order out. The gateway
reads the counts from the counter store and takes the reservation; this
module only says what to ask for.

Each IP's limits live under keys that name their window (``policy.keys``),
so a new day or hour starts from zero without any reset job.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from types import MappingProxyType
from typing import Literal
from zoneinfo import ZoneInfo

from conf import PoolIp
from conf.schema import WarmupSettings
from policy import keys
from policy.counters import Limit, Window
from policy.quota import measures
from policy.quota.ipstate import IpRecord, initial
from policy.quota.states import IpState
from policy.quota.warmup import DEFAULT_GROUP, DEFAULT_SCHEDULES, Schedule, hourly_limit

# Counters only have to outlive their window (the key names the window); the
# margin covers a 25-hour day or a repeated hour when clocks go back.
DAY_TTL = 27 * 3600
HOUR_TTL = 2 * 3600 + 300

Kind = Literal["daily", "hourly", "provider", "throttle"]
NO_MEASURES: measures.Measures = MappingProxyType({})


@dataclass(frozen=True)
class Quota:
    """One limit of one IP, with what a reply needs to explain it."""

    limit: Limit
    kind: Kind
    ip: str
    warming: bool
    group: str | None  # set for a provider-group limit
    frees_at: datetime  # local time at which its window ends


@dataclass(frozen=True)
class Candidate:
    """An IP in rotation and the limits one more message to this group would take."""

    ip: PoolIp
    position: int  # in the pool as configured: the tie-breaker's base
    warming: bool
    quotas: tuple[Quota, ...]
    # A retiring IP's share of new mail, falling from 1 to 0 over the rotation's
    # retire_hours; 1 for every other IP.
    share: float = 1.0

    @property
    def limits(self) -> tuple[Limit, ...]:
        return tuple(q.limit for q in self.quotas)

    def quota(self, key: str) -> Quota:
        return next(q for q in self.quotas if q.limit.key == key)


def schedules(settings: WarmupSettings) -> dict[str, Schedule]:
    """The built-in schedules, with the configured ones added or replacing them by name."""
    out = dict(DEFAULT_SCHEDULES)
    for name, groups in settings.schedules.items():
        out[name] = Schedule(name=name, groups=groups)
    return out


class Planner:
    """The limits of every IP of a pool, from the warmup settings, the IP states and the clock."""

    def __init__(self, settings: WarmupSettings) -> None:
        self.settings = settings
        self.zone = ZoneInfo(settings.timezone)
        self.schedules = schedules(settings)
        self._turns: dict[str, itertools.count[int]] = {}

    def local(self, now: datetime, zone: str | None = None) -> datetime:
        """`now` (aware) in `zone`, by default the warmup time zone."""
        return now.astimezone(ZoneInfo(zone) if zone else self.zone)

    def record(
        self, ip: PoolIp, today: date, states: Mapping[str, IpRecord] = MappingProxyType({})
    ) -> IpRecord | None:
        """The IP's state: the stored one, else what the configuration declares."""
        return states.get(ip.ip) or initial(ip, today)

    def needs_group(
        self,
        ips: Sequence[PoolIp],
        today: date,
        states: Mapping[str, IpRecord] = MappingProxyType({}),
        throttles: measures.Measures = NO_MEASURES,
    ) -> bool:
        """Whether any IP has a provider-group limit today, so the group must be known."""
        for ip in ips:
            if measures.throttled_groups(throttles, ip.ip):
                return True
            plan = self.plan(ip, self.record(ip, today, states))
            if plan is not None and any(g != DEFAULT_GROUP for g in plan[0].groups):
                return True
        return False

    def candidates(
        self,
        ips: Sequence[PoolIp],
        now: datetime,
        group: str,
        *,
        zone: str | None = None,
        states: Mapping[str, IpRecord] = MappingProxyType({}),
        sending_hours: float | None = None,
        throttles: measures.Measures = NO_MEASURES,
        retire_hours: float = 24.0,
    ) -> list[Candidate]:
        """Every IP in rotation, in pool order, with its limits for one message to `group`."""
        local = self.local(now, zone)
        out = []
        for position, ip in enumerate(ips):
            record = self.record(ip, local.date(), states)
            if not ip.enabled or record is None or not record.in_rotation:
                continue
            plan = self.plan(ip, record)
            warming, quotas = self._quotas(ip, plan, local, group, sending_hours)
            throttle = measures.throttle(throttles, ip.ip, group)
            if throttle is not None:
                quotas = (*quotas, _throttled(ip, plan is not None, local, throttle))
            share = 1.0
            if record.state is IpState.RETIRING:
                gone = (now.timestamp() - record.updated_at) / (retire_hours * 3600)
                share = min(1.0, max(0.0, 1.0 - gone))
            out.append(Candidate(ip, position, warming, quotas, share))
        return out

    def out_of_rotation(
        self, ips: Sequence[PoolIp], today: date, states: Mapping[str, IpRecord]
    ) -> list[str]:
        """ "192.0.2.10 paused" for each enabled IP whose state keeps it out of rotation."""
        out = []
        for ip in ips:
            record = self.record(ip, today, states)
            if ip.enabled and record is not None and not record.in_rotation:
                out.append(f"{ip.ip} {record.state.value}")
        return out

    def turn(self, pool: str) -> int:
        """A number that moves on at each selection, to spread ties over the pool."""
        return next(self._turns.setdefault(pool, itertools.count()))

    def schedule_of(self, ip: PoolIp, record: IpRecord | None = None) -> Schedule:
        """The schedule an IP warms on: the rotation's re-warm schedule when it set one,
        its own, or the standard one for a warm IP restarted."""
        if record is not None and record.schedule in self.schedules:
            return self.schedules[record.schedule]
        return self.schedules[ip.warmup.schedule if ip.warmup else "standard"]

    def plan(self, ip: PoolIp, record: IpRecord | None) -> tuple[Schedule, int] | None:
        """The IP's schedule and day while it is warming on one; None when warm."""
        if record is None or record.state is not IpState.WARMING:
            return None
        schedule = self.schedule_of(ip, record)
        # Past the last day the IP is warm, even before the clock records it.
        if schedule.limit(record.day, DEFAULT_GROUP) is None:
            return None
        return schedule, record.day

    def daily(self, ip: PoolIp, record: IpRecord | None) -> int | None:
        """The IP's total limit for the day (None: no limit)."""
        return _daily(ip, self.plan(ip, record))

    def _quotas(
        self,
        ip: PoolIp,
        plan: tuple[Schedule, int] | None,
        local: datetime,
        group: str,
        sending_hours: float | None = None,
    ) -> tuple[bool, tuple[Quota, ...]]:
        today = local.date()
        end_of_day = datetime.combine(today + timedelta(days=1), datetime.min.time(), local.tzinfo)
        end_of_hour = local.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)

        start_of_day = datetime.combine(today, datetime.min.time(), local.tzinfo).timestamp()
        start_of_hour = local.replace(minute=0, second=0, microsecond=0).timestamp()

        def quota(kind: Kind, key: str, limit: int, ttl: int, ends: datetime) -> Quota:
            provider = group if kind == "provider" else None
            start = start_of_hour if kind == "hourly" else start_of_day
            window = Window(ip.ip, start, provider)
            limited = Limit(key, limit, ttl, window)
            return Quota(limited, kind, ip.ip, plan is not None, provider, ends)

        daily = _daily(ip, plan)
        if daily is None:
            return False, ()
        out = [quota("daily", keys.day(ip.ip, today), daily, DAY_TTL, end_of_day)]
        if plan is None:
            return False, tuple(out)
        schedule, day = plan
        hours = sending_hours or self.settings.sending_hours
        hourly = hourly_limit(daily, hours, self.settings.burst)
        hour_key = keys.hour(ip.ip, today, local.hour)
        out.append(quota("hourly", hour_key, hourly, HOUR_TTL, end_of_hour))
        if group != DEFAULT_GROUP and group in schedule.groups:
            limit = schedule.limit(day, group)
            if limit is not None:
                key = keys.day(ip.ip, today, group)
                out.append(quota("provider", key, limit, DAY_TTL, end_of_day))
        return True, tuple(out)


def _throttled(ip: PoolIp, warming: bool, local: datetime, m: measures.Measure) -> Quota:
    """The hourly cap a health throttle puts on the IP toward its provider (or all)."""
    end_of_hour = local.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    key = keys.throttle(ip.ip, local.date(), local.hour, m.provider)
    group = None if m.provider == measures.ALL else m.provider
    return Quota(Limit(key, m.hourly, HOUR_TTL), "throttle", ip.ip, warming, group, end_of_hour)


def _daily(ip: PoolIp, plan: tuple[Schedule, int] | None) -> int | None:
    """The day's total: the schedule's, capped by the IP's own daily_limit (None: no limit)."""
    if plan is None:
        return ip.daily_limit
    daily = plan[0].limit(plan[1], DEFAULT_GROUP)
    assert daily is not None
    return min(daily, ip.daily_limit) if ip.daily_limit is not None else daily


def usage_keys(candidates: Sequence[Candidate]) -> list[str]:
    """The counters to read before ordering; empty when the order needs no counts.

    Counts only decide between two limited IPs of the same kind: an unlimited
    IP always has the most room and a lone limited one needs no ranking, so
    the common pool costs no extra round trip.
    """
    for warming in (True, False):
        limited = [c for c in candidates if c.warming is warming and c.quotas]
        if len(limited) > 1:
            return [q.limit.key for c in candidates for q in c.quotas]
    return []


def headroom(candidate: Candidate, usage: Mapping[str, int]) -> int | None:
    """Messages the IP can still take now (None: no limit), as far as `usage` knows."""
    if not candidate.quotas:
        return None
    return max(0, min(q.limit.limit - usage.get(q.limit.key, 0) for q in candidate.quotas))


def full_quota(candidate: Candidate, usage: Mapping[str, int]) -> Quota | None:
    """The first limit that `usage` shows to be full; None when every one may have room."""
    for q in candidate.quotas:
        if q.limit.key in usage and usage[q.limit.key] >= q.limit.limit:
            return q
    return None


def order(candidates: Sequence[Candidate], usage: Mapping[str, int], turn: int) -> list[Candidate]:
    """Warming IPs first (the ramp must be used), then warm ones; most room first in each.

    Equal room (two unlimited IPs, or no counts read) rotates with `turn`, so
    warm IPs share the traffic rather than the first one taking it all. A retiring
    IP ranks with the warm ones on a `share` of the turns only (spread evenly by the
    golden ratio), last otherwise: its traffic fades, yet it still takes mail when
    no other IP has room.
    """
    size = max((c.position for c in candidates), default=0) + 1
    fading = (turn * 0.6180339887498949) % 1.0

    def rank(c: Candidate) -> tuple[int, int, int]:
        room = headroom(c, usage)
        return (
            0 if c.warming else (1 if fading < c.share else 2),
            -(room if room is not None else 2**62),
            (c.position - turn) % size,
        )

    return sorted(candidates, key=rank)


def soonest(quotas: Sequence[Quota]) -> Quota | None:
    """Of the limits that refused, the one that frees first: when a retry can succeed."""
    return min(quotas, key=lambda q: q.frees_at, default=None)
