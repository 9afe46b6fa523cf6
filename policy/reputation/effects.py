"""What a confirmed listing or delisting does to an IP, through its state machine.

A quarantine-action list's confirmed listing quarantines the IP (event
``blacklist``, actor ``reputation``, the zone and answer as the detail),
unless it is quarantined already: the first quarantine's record is what a
delisting restores from. A confirmed delisting restores the state and warmup
day the IP had before, but only when the IP's latest transition is still that
quarantine: an operator who cleared, paused or re-quarantined it since owns
it now. It waits while any other quarantine-action list still lists the IP.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime

from policy.quota import ipstate
from policy.quota.ipstate import IpRecord
from policy.quota.states import IpEvent, IpState, Transition

ACTOR = "reputation"


def quarantine(
    record: IpRecord, zone: str, answer: str, *, at: datetime, today: date
) -> tuple[IpRecord, Transition] | None:
    """The record quarantined for a listing on `zone`; None when already quarantined."""
    if record.state is IpState.QUARANTINED:
        return None
    detail = f"{zone} answered {answer}"
    return ipstate.command(
        record, IpEvent.BLACKLIST, actor=ACTOR, at=at, today=today, detail=detail
    )


def ours(last: Transition | None) -> bool:
    """Whether the IP's latest transition is this watch's quarantine."""
    return (
        last is not None
        and last.actor == ACTOR
        and last.to_state is IpState.QUARANTINED
        and last.from_state is not IpState.QUARANTINED
    )


def restore(
    record: IpRecord, last: Transition | None, zone: str, *, at: datetime
) -> tuple[IpRecord, Transition] | None:
    """The record back where the quarantine found it; None when it is not ours to restore."""
    if record.state is not IpState.QUARANTINED or not ours(last):
        return None
    assert last is not None
    new = replace(record, state=last.from_state, day=last.from_day, updated_at=at.timestamp())
    change = Transition(
        ip=record.ip,
        from_state=record.state,
        to_state=new.state,
        reason=f"delisted from {zone}: back to {new.state.value} as before the quarantine",
        actor=ACTOR,
        at=at,
        from_day=record.day,
        to_day=new.day,
    )
    return new, change
