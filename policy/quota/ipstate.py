"""An IP's runtime state: in rotation or not, and where it stands on its schedule.

The configuration declares an IP (and, for a new one, its schedule and start
date); the store records what happened to it since: pauses, quarantines, the
warmup clock's advances. Until the store has a record, the configuration's
declaration stands in (`initial`). Every change is a compare-and-set on the
record read, with its transition written in the same transaction, so two
processes (two hosts' warmup clocks, an operator and the clock) never both
apply a change to the same starting point.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import TYPE_CHECKING

from conf import PoolIp
from policy.quota.states import IpEvent, IpState, Transition, transition
from policy.quota.warmup import warmup_day

if TYPE_CHECKING:
    from policy.store.protocols import IpStateStore

IN_ROTATION = frozenset({IpState.WARMING, IpState.WARM, IpState.RETIRING})


class IpStateError(ValueError):
    """A change that cannot be made to this IP now."""


@dataclass(frozen=True)
class IpRecord:
    ip: str
    state: IpState
    day: int = 0  # the warmup day while warming (1 first); 0 when on no schedule
    as_of: str = ""  # the local date (ISO) the day was last decided on
    previous: IpState | None = None  # before a pause or a rest: what resume returns to
    updated_at: float = 0.0
    # The schedule it warms on when not its own: the rotation's re-warm schedule, set
    # when the rotation retires it and kept until it is warm again.
    schedule: str = ""

    @property
    def in_rotation(self) -> bool:
        return self.state in IN_ROTATION


def initial(ip: PoolIp, today: date) -> IpRecord | None:
    """What the configuration says of an IP with no record yet; None before its start date."""
    if ip.warmup is None:
        return IpRecord(ip.ip, IpState.WARM, 0, today.isoformat())
    started = date.fromisoformat(ip.warmup.started)
    if started > today:
        return None
    # Calendar days since the declared start, as Halon's `added` date: an operator
    # declaring an IP that began warming elsewhere gets it at the right day.
    return IpRecord(ip.ip, IpState.WARMING, warmup_day(started, today, None), today.isoformat())


def command(
    record: IpRecord,
    event: IpEvent | str,
    *,
    actor: str,
    at: datetime,
    today: date,
    detail: str = "",
) -> tuple[IpRecord, Transition]:
    """The record after an operator's or a task's event, and the transition to store."""
    state, reason = transition(record.state, event, previous=record.previous, detail=detail)
    event = IpEvent(event)
    day = record.day
    if event is IpEvent.RESTART:
        day = 1
    elif state is IpState.WARMING:
        day = max(day, 1)  # a warm IP that must warm again starts at day 1
    elif state is IpState.WARM:
        day = 0
    previous = record.previous
    stopped = (IpState.PAUSED, IpState.RESTING, IpState.RETIRING)
    if state in stopped and record.state in (IpState.WARMING, IpState.WARM):
        previous = record.state
    new = replace(
        record,
        state=state,
        day=day,
        previous=previous,
        as_of=today.isoformat() if event is IpEvent.RESTART else record.as_of,
        updated_at=at.timestamp(),
    )
    return new, _transition(record, new, reason, actor, at)


def set_day(
    record: IpRecord, day: int, *, actor: str, at: datetime, today: date, detail: str = ""
) -> tuple[IpRecord, Transition]:
    """Put an IP in rotation at warmup day `day` (an operator's correction)."""
    if day < 1:
        raise IpStateError(f"a warmup day starts at 1, got {day}")
    if not record.in_rotation:
        raise IpStateError(
            f"{record.ip} is {record.state.value}: resume or clear it before setting its day"
        )
    new = replace(
        record, state=IpState.WARMING, day=day, as_of=today.isoformat(), updated_at=at.timestamp()
    )
    reason = f"warmup day set to {day}" + (f" ({detail})" if detail else "")
    return new, _transition(record, new, reason, actor, at)


def _transition(old: IpRecord, new: IpRecord, reason: str, actor: str, at: datetime) -> Transition:
    return Transition(
        ip=old.ip,
        from_state=old.state,
        to_state=new.state,
        reason=reason,
        actor=actor,
        at=at,
        from_day=old.day,
        to_day=new.day,
    )


async def change(
    store: IpStateStore,
    ip: PoolIp,
    today: date,
    decide: Callable[[IpRecord], tuple[IpRecord, Transition]],
    *,
    attempts: int = 5,
) -> Transition:
    """Apply `decide` to the IP's current record, retrying when another writer got there first."""
    for _ in range(attempts):
        stored = (await store.ip_states()).get(ip.ip)
        current = stored or initial(ip, today)
        if current is None:
            assert ip.warmup is not None
            raise IpStateError(f"{ip.ip} starts warming on {ip.warmup.started}: not in use yet")
        new, record = decide(current)
        if await store.save_ip(new, record, expect=stored):
            return record
    raise IpStateError(f"{ip.ip} kept changing under us; try again")
