"""Which child of a sent step fires: exactly one branch (or none) per decision.

Only human opens and clicks count, as ``policy.bots`` labelled them when
they were recorded: an Apple Mail prefetch or a link scanner never moves a
contact down the ``opened`` or ``clicked`` branch. A click is also an open
(the pixel of a plain-text reader never loads). The answer depends only on
the events in the store and the clock, so a decision taken twice (after a
crash) is the same decision.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from policy.bots import HUMAN
from policy.scenarios.definition import POSITIVE, Step

# With only opened/clicked children, how long a contact may take to open or click.
POSITIVE_WAIT = 30 * 86400


@dataclass(frozen=True)
class Seen:
    """An open or click of the parent step's message, as the store recorded it."""

    kind: str  # open | click
    at: float
    classification: str  # human | machine (policy.bots)
    url: str = ""


@dataclass(frozen=True)
class Choice:
    step: str | None  # the child that fires; None: no branch fires, the path ends here
    due: float  # when the child's send is due (before the window is applied)
    reason: str


def deadline(children: Sequence[Step], sent_at: float) -> float:
    """When the negative branch (not_opened, not_clicked, delay) is decided."""
    fallback = [c.delay_seconds for c in children if c.trigger not in POSITIVE]
    if fallback:
        return sent_at + max(fallback)
    return sent_at + max((c.delay_seconds for c in children), default=0) + POSITIVE_WAIT


def _matches(child: Step, e: Seen) -> bool:
    if child.trigger in ("clicked", "not_clicked"):
        return e.kind == "click" and (child.link is None or e.url == child.link)
    return e.kind in ("open", "click")


def _first(child: Step, human: Sequence[Seen], until: float) -> Seen | None:
    hits = [e for e in human if _matches(child, e) and e.at <= until]
    return min(hits, key=lambda e: e.at) if hits else None


def _rank(child: Step) -> int:
    # A click on a named link is the most specific news, then any click, then an open.
    if child.trigger == "clicked":
        return 0 if child.link is not None else 1
    return 2


def decide(
    children: Sequence[Step], sent_at: float, now: float, seen: Sequence[Seen]
) -> Choice | None:
    """The branch that fires, or None to wait (nothing decided yet)."""
    if not children:
        return Choice(None, now, "last step")
    until = deadline(children, sent_at)
    human = [e for e in seen if e.classification == HUMAN]
    for child in sorted((c for c in children if c.trigger in POSITIVE), key=_rank):
        hit = _first(child, human, until)
        if hit is not None:
            return Choice(child.id, hit.at + child.delay_seconds, f"human {hit.kind}")
    if now < until:
        return None
    for child in children:
        if child.trigger == "delay":
            return Choice(child.id, until, "delay")
        if child.trigger in ("not_opened", "not_clicked") and _first(child, human, until) is None:
            return Choice(child.id, until, f"no human {child.trigger[4:-2]}")
    return Choice(None, until, "no branch matched")
