"""Confirmation: a listing (or a delisting) acts only once seen `confirm` cycles in a row.

A standing is what the store keeps for one target on one list: the latest
reading, whether a listing is confirmed, and how many cycles in a row the
readings have disagreed with that. An error or unknown reading says nothing
about the target: it neither confirms nor breaks a run.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from policy.reputation.answers import Reading, Status


class Change(StrEnum):
    LISTED = "listed"
    DELISTED = "delisted"


@dataclass(frozen=True)
class Standing:
    target: str  # an IP or a domain
    zone: str
    kind: str  # "ip" or "domain"
    status: str  # the latest reading's Status
    answer: str
    listed: bool = False  # a confirmed listing
    streak: int = 0  # consecutive cycles disagreeing with `listed`
    first_seen: float = 0.0  # when the current listing was first read (0: none)
    last_seen: float = 0.0  # when a listing was last read
    checked_at: float = 0.0


@dataclass(frozen=True)
class HistoryEntry:
    target: str  # an IP, a domain, or a zone (for a list's own canary)
    zone: str
    event: str  # listed, delisted, quarantined, restored, canary-failed, ...
    answer: str
    at: float


def step(
    prev: Standing | None,
    target: str,
    zone: str,
    kind: str,
    reading: Reading,
    confirm: int,
    now: float,
) -> tuple[Standing, Change | None]:
    """The standing after this cycle's reading, and the change it confirms, if any."""
    base = prev or Standing(target, zone, kind, Status.CLEAN.value, "")
    new = replace(base, status=reading.status.value, answer=reading.answer, checked_at=now)
    if not reading.counts:
        return new, None
    if reading.listed:
        new = replace(new, first_seen=new.first_seen or now, last_seen=now)
    if reading.listed == new.listed:
        return replace(new, streak=0), None
    streak = new.streak + 1
    if streak < confirm:
        return replace(new, streak=streak), None
    if reading.listed:
        return replace(new, listed=True, streak=0), Change.LISTED
    return replace(new, listed=False, streak=0, first_seen=0.0), Change.DELISTED
