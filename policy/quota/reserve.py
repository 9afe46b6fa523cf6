"""The quota decision for one recipient: which IP carries the message, with a unit reserved.

One call per RCPT. The first recipient picks the IP (warming IPs first, then
warm ones, most room first, ties rotating over the pool) and takes one unit
of every limit of it; a later recipient must fit the same IP, because
PowerMTA's X-Virtual-MTA applies to the whole message. The gateway's quota
step only turns the outcome into a reply.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

from conf import PoolIp
from policy.counters import CounterUnavailable, Limit, Refusal, Reservation
from policy.providers import OTHER, ProviderResolver
from policy.quota import measures, selection
from policy.quota.ipstate import IpRecord
from policy.quota.selection import Candidate, Planner, Quota


class Counters(Protocol):
    """The part of a counter store a reservation needs."""

    async def usage(self, keys: Sequence[str]) -> dict[str, int]: ...

    async def reserve(self, limits: Sequence[Limit]) -> Reservation | Refusal: ...


@dataclass(frozen=True)
class Ask:
    """One recipient of a transaction of a tenant whose mail goes out through `ips`."""

    pool: str
    ips: Sequence[PoolIp]
    domain: str  # the recipient's
    now: datetime
    zone: str | None = None  # the tenant's, else the warmup time zone
    sending_hours: float | None = None
    states: Mapping[str, IpRecord] = field(default_factory=dict)
    throttles: measures.Measures = field(default_factory=dict)
    ip: PoolIp | None = None  # the IP an earlier recipient of the message took


@dataclass(frozen=True)
class Granted:
    ip: PoolIp
    reservation: Reservation | None  # None: the IP has no limit to count against


Why = Literal["out_of_rotation", "no_route", "quota_reached", "does_not_fit", "unavailable"]


@dataclass(frozen=True)
class Refused:
    why: Why
    quota: Quota | None = None  # quota_reached: of the limits that refused, the first to free
    used: int = 0  # quota_reached: that limit's count when it refused (at least its limit)
    stopped: tuple[str, ...] = ()  # out_of_rotation: "192.0.2.10 paused", ...
    error: str = ""  # unavailable: what the counter store said


@dataclass(frozen=True)
class Decision:
    group: str  # the recipient's provider group (OTHER when no limit depends on it)
    outcome: Granted | Refused


async def reserve(
    planner: Planner, counters: Counters, providers: ProviderResolver | None, ask: Ask
) -> Decision:
    """Choose the IP for `ask` (or check that its IP takes it) and reserve one unit on it."""
    today = planner.local(ask.now, ask.zone).date()
    group = OTHER
    if providers is not None and planner.needs_group(ask.ips, today, ask.states, ask.throttles):
        group = await providers.group(ask.domain)
    candidates = planner.candidates(
        ask.ips,
        ask.now,
        group,
        zone=ask.zone,
        states=ask.states,
        sending_hours=ask.sending_hours,
        throttles=ask.throttles,
    )
    if not candidates and (stopped := planner.out_of_rotation(ask.ips, today, ask.states)):
        return Decision(group, Refused("out_of_rotation", stopped=tuple(stopped)))
    try:
        if ask.ip is None:
            outcome = await _choose(planner, counters, ask.pool, candidates)
        else:
            outcome = await _fit(counters, ask.ip, candidates)
    except CounterUnavailable as exc:
        outcome = Refused("unavailable", error=str(exc))
    return Decision(group, outcome)


async def _choose(
    planner: Planner, counters: Counters, pool: str, candidates: list[Candidate]
) -> Granted | Refused:
    """First recipient: the first IP, in selection order, that grants a reservation."""
    if not candidates:
        return Refused("no_route")
    keys = selection.usage_keys(candidates)
    usage = await counters.usage(keys) if keys else {}
    refused: list[Quota] = []
    for candidate in selection.order(candidates, usage, planner.turn(pool)):
        if not candidate.quotas:
            return Granted(candidate.ip, None)
        full = selection.full_quota(candidate, usage)
        if full is not None:
            refused.append(full)
            continue
        result = await counters.reserve(candidate.limits)
        if isinstance(result, Reservation):
            return Granted(candidate.ip, result)
        refused.append(candidate.quota(result.key))
    first = selection.soonest(refused)
    # A limit refuses only when full: its count, read before or raced to since, is at least it.
    used = max(usage.get(first.limit.key, 0), first.limit.limit) if first else 0
    return Refused("quota_reached", quota=first, used=used)


async def _fit(counters: Counters, ip: PoolIp, candidates: list[Candidate]) -> Granted | Refused:
    """A later recipient: the message's IP must take it too."""
    mine = next((c for c in candidates if c.ip == ip), None)
    if mine is None:
        # The IP left rotation (a reload) since the first recipient.
        return Refused("does_not_fit")
    if not mine.quotas:
        return Granted(ip, None)
    result = await counters.reserve(mine.limits)
    if isinstance(result, Reservation):
        return Granted(ip, result)
    return Refused("does_not_fit")
