"""What a bounce, complaint or auto-reply does: pure decisions, no I/O.

Every input (a DSN or ARF report from the inbound listener, a PowerMTA
accounting record from a file or the webhook) becomes a ``Feedback``: one
classified report about one recipient of one relayed message. ``decide``
says what follows from it; ``scheduler.effects`` carries it out.

- A hard bounce (a hard-kind reason with a 5.x.x outcome) suppresses the
  recipient for the tenant (reason ``hard_bounce``).
- Soft bounces are counted per tenant and recipient; ``soft_bounce_limit``
  of them within the window suppress it until ``soft_bounce_expiry``
  (reason ``soft_bounce``). A bounce whose cause is undetermined counts as
  soft: it cannot suppress at once, but a recipient that keeps bouncing
  stops being mailed.
- A complaint suppresses (reason ``complaint``) and counts towards the IP's
  complaint rate.
- A block (reputation, blacklist, policy, authentication) marks the sending
  IP, never the recipient: Gmail's "low reputation of the sending IP" says
  nothing about the address.
- A delay (a DSN with ``Action: delayed``, an accounting ``t`` record) is a
  deferral of the IP, not a bounce of the recipient.
- Auto-replies are recorded and change nothing; success DSNs are ignored.

Each effect is recorded as an ``Event`` (``bounced``, ``complained``,
``auto_replied``, ``delayed``) with the IP, provider group, tenant, recipient,
message id and job of the original message, so the warmup clock and the
health rates can count them per IP and day.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from policy.bounces.report import BounceReport
from policy.events import Event
from policy.feedback.verp import Origin
from policy.providers import OTHER, static_group
from policy.suppression import Suppression, SuppressionError

# Event kinds of feedback (policy.events.Event.kind).
BOUNCED, COMPLAINED, AUTO_REPLIED, DELAYED = "bounced", "complained", "auto_replied", "delayed"
FEEDBACK_KINDS = (BOUNCED, COMPLAINED, AUTO_REPLIED, DELAYED)


@dataclass(frozen=True)
class Feedback:
    origin: Origin
    report: BounceReport
    source: str  # dsn | arf | acct | webhook
    key: str  # stable across re-reads of the same input: a re-read is not a second bounce
    at: float

    @property
    def recipient(self) -> str:
        # The origin's recipient is the one the token was issued for (feedback
        # naming another address never gets an origin): the only one it may act on.
        return self.origin.recipient.strip().lower()


@dataclass(frozen=True)
class Decision:
    event: str | None  # the feedback event kind, None when nothing is recorded
    suppress: Suppression | None = None
    count_soft: bool = False
    ip_signal: str = ""  # "", bounce, block, complaint, deferral


def provider_of(address: str) -> str:
    """The provider group by domain alone (no MX lookup: feedback is not on the hot path)."""
    return static_group(address.rpartition("@")[2]) or OTHER


def decide(fb: Feedback) -> Decision:
    report = fb.report
    kind = report.kind
    if kind == "delivered":
        return Decision(None)
    if kind == "autoreply":
        return Decision(AUTO_REPLIED)
    if kind == "complaint":
        return Decision(COMPLAINED, _suppression(fb, "complaint"), ip_signal="complaint")
    if report.action == "delayed":
        return Decision(DELAYED, ip_signal="deferral")
    if kind == "block":
        return Decision(BOUNCED, ip_signal="block")
    if report.hard:
        return Decision(BOUNCED, _suppression(fb, "hard_bounce"), ip_signal="bounce")
    return Decision(BOUNCED, count_soft=bool(fb.recipient), ip_signal="bounce")


def soft_suppression(fb: Feedback, count: int, limit: int, expiry: float) -> Suppression | None:
    """The suppression ``count`` soft bounces within the window earn, if they reach ``limit``."""
    if count < limit:
        return None
    return _suppression(fb, "soft_bounce", expires_at=fb.at + expiry)


def supersedes(new: Suppression, old: Suppression | None, now: float) -> bool:
    """Whether writing ``new`` over ``old`` keeps the stronger entry.

    ``store.suppress`` replaces a row; a soft-bounce entry with an expiry must
    never replace an unsubscribe or a hard bounce, and an entry that stands
    until removed keeps its first reason (the one an operator will look for).
    """
    if old is None or not old.active(now):
        return True
    if old.expires_at is None:
        return False
    return new.expires_at is None or new.expires_at > old.expires_at


def _suppression(fb: Feedback, reason: str, expires_at: float | None = None) -> Suppression | None:
    try:
        return Suppression(
            tenant=fb.origin.tenant,
            address=fb.recipient,
            reason=reason,
            source=f"{fb.source}:{fb.report.reason}"[:64],
            created_at=fb.at,
            expires_at=expires_at,
        )
    except SuppressionError:
        return None  # no usable address: the event still records what happened


def event(fb: Feedback, kind: str) -> Event:
    report = fb.report
    return Event(
        kind=kind,
        tenant=fb.origin.tenant,
        client=fb.source,
        mail_from="",
        recipients=(fb.recipient,),
        message_id=fb.origin.message_id or report.message_id,
        ip=fb.origin.ip,
        job=fb.origin.job or report.x_job or report.x_mw_campaign_uid,
        reply=f"{report.status} {report.reason}".strip(),
        downstream_reply=report.diagnostic[:500],
        at=fb.at,
        provider=provider_of(fb.recipient),
        detail=json.dumps(report.decision_detail()) if report.rule else "",
    )


def match(
    reports: Sequence[BounceReport],
    tokens: Sequence[str],
    check: Callable[[str, BounceReport], Origin | None],
) -> list[Origin | None]:
    """The origin of each report, or None: feedback that acts on nothing.

    ``tokens`` are the VERP tokens of the envelope recipients, then those
    found in the message (an ARF report's copy of the original Return-Path).
    ``check(token, report)`` verifies a token for the report's own recipient
    (``policy.feedback.verp.origin_for``): a report goes to the first token
    issued for exactly that address. A report naming any other address, or
    none, is unmatched, however many valid tokens the message carries: a
    token is never evidence about an address it was not issued for.
    """
    out: list[Origin | None] = []
    for report in reports:
        origin = None
        if report.recipient:
            for text in tokens:
                origin = check(text, report)
                if origin is not None:
                    break
        out.append(origin)
    return out
