"""The bounce report record and how a report is built from its findings."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

from . import reasons
from .decide import LOW_CONFIDENCE, Decision
from .mime import Headers, clean

_SPACE_RE = re.compile(r"[ \t]+")


@dataclass(frozen=True)
class BounceReport:
    """One bounced recipient.  See the module docstring for the taxonomy."""

    recipient: str
    status: str = ""
    reply_code: str = ""
    remote_mta: str = ""
    diagnostic: str = ""
    reason: str = reasons.UNDEFINED
    hard: bool = False
    kind: str = "unknown"
    feedback_type: str = ""
    action: str = ""
    pmta_bounce_cat: str = "other"
    mailwizz_type: str = "soft"
    x_job: str = ""
    x_mw_campaign_uid: str = ""
    x_mw_subscriber_uid: str = ""
    message_id: str = ""
    # Which rule of ``decide`` chose the reason, and the text it fired on.
    rule: str = ""
    evidence: str = ""

    @property
    def confidence(self) -> str:
        """``low`` when the reading rests on a code alone or on text that is
        not the recipient's own (worth a look before it suppresses)."""
        return "low" if self.rule in LOW_CONFIDENCE else "high"

    def decision_detail(self) -> dict[str, str]:
        """What an event keeps of the decision: rule, evidence, confidence."""
        return {"rule": self.rule, "evidence": self.evidence, "confidence": self.confidence}

    def as_dict(self) -> dict[str, object]:
        d = asdict(self)
        d["class"] = self.kind
        return d


def tracking_of(original: Headers | None) -> dict[str, str]:
    if original is None:
        return {}
    return {
        "x_job": original.get("x-job"),
        "x_mw_campaign_uid": original.get("x-mw-campaign-uid"),
        "x_mw_subscriber_uid": original.get("x-mw-subscriber-uid"),
        "message_id": original.get("message-id"),
    }


def make_report(
    recipient: str,
    decision: Decision,
    *,
    status: str = "",
    reply_code: str = "",
    remote_mta: str = "",
    diagnostic: str = "",
    feedback_type: str = "",
    action: str = "",
    tracking: dict[str, str],
) -> BounceReport:
    reason = decision.reason
    if not status:
        status = reasons.derive_status(reason, reply_code, action == "delayed")
    hard = reasons.is_hard(reason, status, reply_code)
    kind = reasons.kind_of(reason)
    return BounceReport(
        recipient=recipient.lower(),
        status=status,
        reply_code=reply_code,
        remote_mta=clean(remote_mta)[:255],
        diagnostic=clean(_SPACE_RE.sub(" ", diagnostic).strip())[:1000],
        reason=reason,
        hard=hard,
        kind=kind,
        feedback_type=feedback_type,
        action=action,
        pmta_bounce_cat=reasons.pmta_category(reason),
        mailwizz_type=reasons.mailwizz_type(reason, hard),
        rule=decision.rule,
        evidence=clean(_SPACE_RE.sub(" ", decision.evidence).strip())[:200],
        **{k: clean(v)[:255] for k, v in tracking.items()},
    )
