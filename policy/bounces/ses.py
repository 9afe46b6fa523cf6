"""Amazon SES notifications delivered by e-mail (SNS e-mail subscriptions).

SES reports bounces, complaints and deliveries as JSON, optionally inside an
SNS envelope whose ``Message`` member is the JSON text again.  Mail
transports often fold the long JSON line, inserting a newline and a space;
the folding is undone before decoding.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .dsn import address_in

# Inside an SNS envelope the notification is a JSON string, so its quotes
# arrive escaped (\"notificationType\"): look for the bare names.
_MARKERS = ("notificationType", "eventType")
_MAX_JSON = 512 * 1024

# bounceSubType values that state the cause better than the SMTP text does.
_SUBTYPE_REASON = {
    "noemail": "userunknown",
    "suppressed": "suppressed",
    "onaccountsuppressionlist": "suppressed",
    "mailboxfull": "mailboxfull",
    "messagetoolarge": "mesgtoobig",
    "contentrejected": "contenterror",
    "attachmentrejected": "contenterror",
}


@dataclass
class SesRecord:
    recipient: str
    kind: str  # "bounce", "complaint" or "delivery"
    status: str = ""
    action: str = ""
    diagnostic: str = ""
    permanent: bool = False
    subtype_reason: str = ""
    feedback_type: str = ""


def _load(text: str) -> dict[str, Any] | None:
    start = text.find("{")
    if start < 0:
        return None
    chunk = text[start : start + _MAX_JSON]
    for candidate in (chunk.replace("\n ", ""), chunk.replace("\n", "")):
        try:
            obj, _ = json.JSONDecoder().raw_decode(candidate)
        except ValueError:
            continue
        if isinstance(obj, dict):
            msg = obj.get("Message")
            if isinstance(msg, str) and any(m in msg for m in _MARKERS):
                try:
                    inner = json.loads(msg)
                except ValueError:
                    return None
                return inner if isinstance(inner, dict) else None
            return obj
    return None


def parse_ses(text: str) -> list[SesRecord] | None:
    """Records of an SES notification, or ``None`` when ``text`` is not one."""
    if not any(m in text[:_MAX_JSON] for m in _MARKERS):
        return None
    obj = _load(text)
    if obj is None:
        return None
    kind = str(obj.get("notificationType") or obj.get("eventType") or "").lower()
    out: list[SesRecord] = []
    if kind == "bounce" and isinstance(obj.get("bounce"), dict):
        b = obj["bounce"]
        permanent = str(b.get("bounceType", "")).lower() == "permanent"
        sub = _SUBTYPE_REASON.get(str(b.get("bounceSubType", "")).lower(), "")
        for r in b.get("bouncedRecipients") or []:
            if not isinstance(r, dict):
                continue
            addr = address_in(str(r.get("emailAddress", "")))
            if addr:
                out.append(
                    SesRecord(
                        addr,
                        "bounce",
                        status=str(r.get("status") or ""),
                        action=str(r.get("action") or "failed"),
                        diagnostic=str(r.get("diagnosticCode") or ""),
                        permanent=permanent,
                        subtype_reason=sub,
                    )
                )
    elif kind == "complaint" and isinstance(obj.get("complaint"), dict):
        c = obj["complaint"]
        ftype = str(c.get("complaintFeedbackType") or "abuse").lower()
        for r in c.get("complainedRecipients") or []:
            if isinstance(r, dict):
                addr = address_in(str(r.get("emailAddress", "")))
                if addr:
                    out.append(SesRecord(addr, "complaint", feedback_type=ftype))
    elif kind == "delivery" and isinstance(obj.get("delivery"), dict):
        d = obj["delivery"]
        smtp = str(d.get("smtpResponse") or "")
        for r in d.get("recipients") or []:
            addr = address_in(str(r))
            if addr:
                out.append(SesRecord(addr, "delivery", action="delivered", diagnostic=smtp))
    # Nothing read (another JSON document, or none of the known kinds):
    # the message is left to the other readers.
    return out or None
