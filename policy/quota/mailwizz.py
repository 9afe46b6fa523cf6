"""What a MailWizz delivery server may still send this hour and today, and what to write.

MailWizz retries no 4xx (a refused recipient is a "giveup"), but it waits
without penalty when its own delivery-server quota is used up. So Sluice's
capacity is mirrored into MailWizz's `delivery_server` rows:

- The capacity of a server is what the IPs it is mapped to can still take
  (policy.quota.operations.quotas: warmup day, IP state, limits, use so far), an
  IP-wide health throttle included, less a margin of each limit, shared
  evenly with the other servers mapped to the same IP. A kill switch leaves
  it none.
- MailWizz counts its own sends (its usage log) against the quota over its
  clock hour and day, so the quota written is that count plus the capacity
  left: MailWizz may then send exactly the capacity more.
- MailWizz reads 0 as "no limit", so 0 is written only where Sluice has no
  limit either; a server without capacity is disabled instead, and enabled
  again when capacity returns, if Sluice was the one that disabled it. A
  server with a MailWizz warmup plan is left alone: MailWizz's hourly job
  would overwrite the quotas.

Pure, but for `capacities`, which reads the stores as policy.quota.operations does.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from conf import Settings
from conf.schema.mailwizz import MailwizzServer, MailwizzSyncSettings
from policy import switches
from policy.quota import calendar, capacity, measures, operations
from policy.quota.measures import Measure
from policy.quota.operations import IpQuota, Line, OperationsStore, Usage
from policy.switches import Switch

ACTIVE = ("active", "in-use")  # the statuses MailWizz picks a server in
DISABLED = "disabled"
MAX_QUOTA = 2**31 - 1  # int(11) columns


@dataclass(frozen=True)
class Window:
    """One IP's (or server's) limit and room in an hour or a day (None: no limit)."""

    limit: int | None
    room: int | None


@dataclass(frozen=True)
class Capacity:
    """What one delivery server may still send, after the margin (None: no limit)."""

    tenant: str
    hourly: int | None
    daily: int | None
    ips: tuple[str, ...]  # of its IPs, those in rotation
    stopped: str = ""  # why it may send nothing at all (a kill switch), "" otherwise

    def blocked(self, hourly_quota: int, daily_quota: int) -> bool:
        """Whether the quotas that would be written cannot stop MailWizz: it must be disabled.

        Used up with sends of MailWizz's own in the window, the quota is its
        count (MailWizz stops, and starts again in its next hour by itself);
        with none, it would be 0, which MailWizz reads as no limit.
        """
        if self.stopped or not self.ips:
            return True
        return (self.hourly is not None and hourly_quota == 0) or (
            self.daily is not None and daily_quota == 0
        )

    def why_none(self) -> str:
        if self.stopped:
            return self.stopped
        if not self.ips:
            return "no IP in rotation"
        return "daily capacity used up" if self.daily == 0 else "hourly capacity used up"


def ip_windows(row: IpQuota, throttle: Line | None, hours_after: int) -> tuple[Window, Window]:
    """An IP's hour and day: its warmup limits, capped by an IP-wide health throttle.

    The day's room counts hourly pacing: a warming IP can send at most its
    hourly limit in each hour left before midnight (policy.quota.capacity).
    """
    hourly = least(row.hourly.limit if row.hourly else None, row.daily.limit)
    hour_room = least(row.hourly.remaining if row.hourly else None, row.daily.remaining)
    if throttle is not None:
        hourly = least(hourly, throttle.limit)
        hour_room = least(hour_room, throttle.remaining)
    pace = least(row.hourly.limit if row.hourly else None, throttle.limit if throttle else None)
    day_room = capacity.room_today([row.daily.remaining], hour_room, pace, hours_after)
    day_limit = row.daily.limit
    if day_limit is None and day_room is not None:
        day_limit = day_room  # only a throttle limits it: its pace is the day's limit
    return Window(hourly, hour_room), Window(day_limit, day_room)


def allowance(windows: Sequence[Window], shares: Sequence[int], margin: float) -> int | None:
    """The windows' room added up, each split over its `shares` servers, less the margin."""
    total_room = total_limit = 0
    for w, n in zip(windows, shares, strict=True):
        if w.room is None or w.limit is None:
            return None
        total_room += w.room // n
        total_limit += w.limit // n
    return max(0, total_room - math.ceil(total_limit * margin))


def server_capacity(
    tenant: str,
    rows: Sequence[IpQuota],
    throttles: Mapping[str, Line],
    shares: Mapping[str, int],
    hours_after: int,
    margin: float,
    stopped: str = "",
) -> Capacity:
    """A server's capacity over `rows` (its IPs); those out of rotation count for nothing."""
    live = [r for r in rows if r.in_rotation]
    windows = [ip_windows(r, throttles.get(r.ip), hours_after) for r in live]
    n = [shares.get(r.ip, 1) for r in live]
    hourly = allowance([w[0] for w in windows], n, margin)
    daily = allowance([w[1] for w in windows], n, margin)
    if hourly is not None and daily is not None:
        hourly = min(hourly, daily)  # an hour never outruns its day
    return Capacity(tenant, hourly, daily, tuple(r.ip for r in live), stopped)


@dataclass(frozen=True)
class ServerRow:
    """A `delivery_server` row as MailWizz holds it, with its usage this hour and today."""

    server_id: int
    status: str
    hourly_quota: int
    daily_quota: int
    warmup_plan_id: int | None
    used_hour: int = 0  # MailWizz's usage log in its current clock hour
    used_day: int = 0  # and in its current day


@dataclass(frozen=True)
class Decision:
    server_id: int
    write: bool  # an UPDATE is due (a change, or the periodic refresh)
    changed: bool  # the values written differ from MailWizz's
    status: str
    hourly_quota: int
    daily_quota: int
    why: str  # what the write (or no write) is for, for the audit log and the status page
    warning: str = ""  # a server Sluice cannot manage, e.g. a warmup plan attached


def quota_value(used: int, left: int | None) -> int:
    """The quota that lets MailWizz send `left` more after `used`; 0 (no limit) for None."""
    return 0 if left is None else min(MAX_QUOTA, used + left)


def decide(row: ServerRow, cap: Capacity, *, ours: bool, refresh: bool) -> Decision:
    """What to write into `row` for `cap`; `ours`: Sluice disabled it (it may enable it).

    `refresh`: Sluice's last write is older than the interval, so the row is
    written even if nothing changed.
    """

    def keep(why: str, warning: str = "") -> Decision:
        return Decision(
            row.server_id, False, False, row.status, row.hourly_quota, row.daily_quota, why, warning
        )

    if row.warmup_plan_id is not None:
        return keep(
            "left alone",
            f"MailWizz delivery server {row.server_id} has warmup plan {row.warmup_plan_id}"
            " attached: its hourly job sets the quotas, so Sluice does not; detach the plan",
        )
    hourly = quota_value(row.used_hour, cap.hourly)
    daily = quota_value(row.used_day, cap.daily)
    if cap.blocked(hourly, daily):
        if row.status not in ACTIVE:
            return keep(f"no capacity ({cap.why_none()}); already {row.status}")
        # The quotas are kept: 0 would mean no limit.
        return Decision(
            row.server_id,
            True,
            True,
            DISABLED,
            row.hourly_quota,
            row.daily_quota,
            f"disabled: {cap.why_none()}",
        )
    status, why = row.status, f"quota: {_describe(cap.hourly)}/h, {_describe(cap.daily)}/day left"
    if row.status == DISABLED and ours:
        status, why = ACTIVE[0], f"enabled: capacity returned ({why})"
    changed = (status, hourly, daily) != (row.status, row.hourly_quota, row.daily_quota)
    return Decision(row.server_id, changed or refresh, changed, status, hourly, daily, why)


@dataclass(frozen=True)
class ClockCheck:
    """MailWizz's clock (MySQL's NOW() in its connections' zone) against the tenant's day."""

    mailwizz_now: datetime  # naive, as MySQL gives it
    utc_now: datetime  # aware: UTC_TIMESTAMP()
    tenant: str
    zone: str  # the tenant's quota day's zone

    @property
    def mailwizz_offset(self) -> timedelta:
        delta = self.mailwizz_now - self.utc_now.replace(tzinfo=None)
        return timedelta(minutes=round(delta.total_seconds() / 60))

    @property
    def tenant_offset(self) -> timedelta:
        return self.utc_now.astimezone(ZoneInfo(self.zone)).utcoffset() or timedelta(0)

    @property
    def aligned(self) -> bool:
        return self.mailwizz_offset == self.tenant_offset

    def note(self) -> str:
        """'' when MailWizz's day is the tenant's; else what differs, for the status page."""
        if self.aligned:
            return ""
        tenant_today = self.utc_now.astimezone(ZoneInfo(self.zone)).date()
        now = (
            f"now {self.mailwizz_now.date()} in MailWizz, {tenant_today} for {self.tenant}"
            if tenant_today != self.mailwizz_now.date()
            else f"both on {tenant_today} now"
        )
        return (
            f"MailWizz's day (UTC{_offset(self.mailwizz_offset)}) is not tenant {self.tenant}'s"
            f" quota day ({self.zone}, UTC{_offset(self.tenant_offset)}): {now}; the daily quota"
            " written is what is left of the tenant's day"
        )


class CapacityStore(OperationsStore, Protocol):
    async def switches(self) -> list[Switch]: ...
    async def measures(self, now: float) -> list[Measure]: ...


async def capacities(
    settings: Settings,
    sync: MailwizzSyncSettings,
    store: CapacityStore,
    now: datetime,
    *,
    counters: Usage | None = None,
) -> dict[int, Capacity]:
    """Each mapped server's capacity at `now` (aware), by its server_id."""
    active = {s.key: s for s in await store.switches()}
    held = {m.key: m for m in await store.measures(now.timestamp())}
    tenants = {s.tenant for s in sync.servers}
    rows = {
        t: await operations.quotas(settings, store, now, counters=counters, tenant=t)
        for t in tenants
    }
    shares = _shares(sync.servers, rows)
    out = {}
    for server in sync.servers:
        mine = _server_rows(server, rows[server.tenant])
        pool = operations.tenant_pool(settings, server.tenant)
        zone = calendar.pool_zone(settings, pool)
        local = now.astimezone(ZoneInfo(zone))
        throttles = await _throttles(held, mine, local, counters)
        _, end = calendar.day_bounds(zone, local.date())
        _, later = capacity.hours_after(local, datetime.fromtimestamp(end, local.tzinfo))
        paused = switches.active(active, "pause", server.tenant)
        stopped = paused.describe() if paused is not None else ""
        out[server.server_id] = server_capacity(
            server.tenant, mine, throttles, shares, later, sync.margin, stopped
        )
    return out


def _server_rows(server: MailwizzServer, rows: Sequence[IpQuota]) -> list[IpQuota]:
    return [r for r in rows if server.ips is None or r.ip in server.ips]


def _shares(
    servers: Sequence[MailwizzServer], rows: Mapping[str, Sequence[IpQuota]]
) -> dict[str, int]:
    """How many mapped servers draw on each IP: its room is split evenly between them."""
    out: dict[str, int] = {}
    for server in servers:
        for row in _server_rows(server, rows[server.tenant]):
            out[row.ip] = out.get(row.ip, 0) + 1
    return out


async def _throttles(
    held: measures.Measures, rows: Sequence[IpQuota], local: datetime, counters: Usage | None
) -> dict[str, Line]:
    """The IP-wide health throttles on `rows` and their use this hour (policy.keys).

    A throttle toward one provider group is not mirrored: MailWizz cannot
    pace one provider, and Sluice's 451 for that group stays the backstop.
    """
    found = {r.ip: m for r in rows if (m := measures.throttle(held, r.ip, measures.ALL))}
    keys = {ip: f"throttle:{ip}:{local.date()}T{local.hour:02d}:{measures.ALL}" for ip in found}
    used = await counters.usage(list(keys.values())) if counters is not None and keys else {}
    return {ip: Line(m.hourly, used.get(keys[ip], 0)) for ip, m in found.items()}


def least(a: int | None, b: int | None) -> int | None:
    """The tighter of two limits, None meaning no limit."""
    if a is None:
        return b
    return a if b is None else min(a, b)


def _describe(n: int | None) -> str:
    return "no limit" if n is None else str(n)


def _offset(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
