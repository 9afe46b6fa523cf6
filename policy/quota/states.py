"""The IP state machine: warming, warm, paused, quarantined, resting, retiring, and what
moves an IP. Rotation takes a warm IP through retiring, resting and warming again.

Pure: a state and an event in, the next state and the reason out. Operators
pause, rest, quarantine, clear and restart; the sibling tasks graduate an IP
and quarantine it on bad signals. `policy.quota.ipstate` records the result.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType


class IpState(StrEnum):
    WARMING = "warming"
    WARM = "warm"
    PAUSED = "paused"
    QUARANTINED = "quarantined"
    RESTING = "resting"
    RETIRING = "retiring"  # rotation: still in rotation, its share of new mail falling


class IpEvent(StrEnum):
    # Operator commands.
    PAUSE = "pause"
    RESUME = "resume"
    QUARANTINE = "quarantine"
    CLEAR = "clear"
    REST = "rest"
    RESTART = "restart"
    # Raised by the sibling tasks.
    RETIRE = "retire"
    GRADUATE = "graduate"
    BOUNCE = "bounce"
    COMPLAINT = "complaint"
    BLACKLIST = "blacklist"


AUTOMATIC_QUARANTINE = frozenset({IpEvent.BOUNCE, IpEvent.COMPLAINT, IpEvent.BLACKLIST})


class TransitionError(ValueError):
    """An event that is not allowed in the IP's current state."""


# None as a target means "back to where the IP was before it stopped".
_W, _M, _P, _Q, _R, _T = (
    IpState.WARMING,
    IpState.WARM,
    IpState.PAUSED,
    IpState.QUARANTINED,
    IpState.RESTING,
    IpState.RETIRING,
)
_TABLE: Mapping[tuple[IpState, IpEvent], IpState | None] = MappingProxyType(
    {
        (_W, IpEvent.PAUSE): _P,
        (_W, IpEvent.QUARANTINE): _Q,
        (_W, IpEvent.REST): _R,
        (_W, IpEvent.RESTART): _W,
        (_W, IpEvent.GRADUATE): _M,
        (_M, IpEvent.PAUSE): _P,
        (_M, IpEvent.QUARANTINE): _Q,
        (_M, IpEvent.REST): _R,
        (_M, IpEvent.RESTART): _W,
        (_M, IpEvent.RETIRE): _T,
        (_T, IpEvent.REST): _R,  # the rotation, once its share reached nothing
        (_T, IpEvent.RESUME): _M,  # retirement called off
        (_T, IpEvent.PAUSE): _P,
        (_T, IpEvent.QUARANTINE): _Q,
        (_T, IpEvent.RESTART): _W,
        (_P, IpEvent.RESUME): None,
        (_P, IpEvent.QUARANTINE): _Q,
        (_P, IpEvent.REST): _R,
        (_P, IpEvent.RESTART): _W,
        (_Q, IpEvent.CLEAR): _W,
        (_Q, IpEvent.RESTART): _W,
        (_R, IpEvent.RESUME): None,
        (_R, IpEvent.QUARANTINE): _Q,
        (_R, IpEvent.RESTART): _W,
        # Bad signals quarantine from every state, and repeat harmlessly: the
        # blacklist poller reports a listing on every round until it is gone.
        **{(state, event): _Q for state in IpState for event in AUTOMATIC_QUARANTINE},
    }
)

_REASONS: Mapping[IpEvent, str] = MappingProxyType(
    {
        IpEvent.PAUSE: "paused by operator",
        IpEvent.RESUME: "resumed by operator",
        IpEvent.QUARANTINE: "quarantined by operator",
        IpEvent.CLEAR: "quarantine cleared; warmup resumes at its recorded day",
        IpEvent.REST: "put to rest by operator",
        IpEvent.RESTART: "warmup restarted at day 1",
        IpEvent.GRADUATE: "warmup schedule completed",
        IpEvent.RETIRE: "retiring: IP rotation",
        IpEvent.BOUNCE: "quarantined: bounce rate over the limit",
        IpEvent.COMPLAINT: "quarantined: complaint rate over the limit",
        IpEvent.BLACKLIST: "quarantined: listed on a blocklist",
    }
)


def transition(
    current: IpState,
    event: IpEvent | str,
    *,
    previous: IpState | None = None,
    detail: str = "",
) -> tuple[IpState, str]:
    """The state after `event`, and why.

    `previous` is the state before a pause or rest; resuming returns to it when
    it was warming or warm, and to warming otherwise, since an IP whose history
    is unknown should ramp rather than burst. `detail` (a zone, a rate) is added
    to the reason.
    """
    try:
        event = IpEvent(event)
    except ValueError:
        known = ", ".join(e.value for e in IpEvent)
        raise TransitionError(f"unknown IP event {event!r} (known: {known})") from None
    key = (IpState(current), event)
    if key not in _TABLE:
        allowed = sorted(e.value for (s, e) in _TABLE if s == key[0])
        raise TransitionError(
            f"cannot {event.value} an IP that is {key[0].value} (allowed: {', '.join(allowed)})"
        )
    target = _TABLE[key]
    if target is None:
        target = previous if previous in (IpState.WARMING, IpState.WARM) else IpState.WARMING
    reason = _REASONS[event]
    return target, f"{reason} ({detail})" if detail else reason


@dataclass(frozen=True)
class Transition:
    """One state change, as recorded for the operator's history."""

    ip: str
    from_state: IpState
    to_state: IpState
    reason: str
    actor: str
    at: datetime
    # The warmup day before and after (0: not on a schedule); the clock's
    # advances and step-backs change only these.
    from_day: int = 0
    to_day: int = 0


def apply(
    ip: str,
    current: IpState,
    event: IpEvent | str,
    *,
    actor: str,
    at: datetime,
    previous: IpState | None = None,
    detail: str = "",
) -> Transition:
    """`transition`, packaged as the record to store."""
    new, reason = transition(current, event, previous=previous, detail=detail)
    return Transition(ip=ip, from_state=current, to_state=new, reason=reason, actor=actor, at=at)
