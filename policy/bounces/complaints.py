"""Complaints (RFC 5965 ARF and provider variants) and auto-replies.

Complaint recipients come from ``Original-Rcpt-To`` / ``Removal-Recipient``
in the feedback report, from provider headers such as Microsoft JMRP's
``X-HmXmrOriginalRecipient``, or else from the ``To`` header of the
returned message.  Auto-replies (RFC 3834 ``Auto-Submitted: auto-replied``,
vacation and out-of-office notices) are reported against their sender: that
is the subscriber whose mailbox answered.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .dsn import address_in
from .mime import Headers, Part

_ARF_TYPES = ("message/feedback-report", "text/feedback-report")
_FEEDBACK_TYPES = frozenset(
    {"abuse", "fraud", "virus", "other", "not-spam", "auth-failure", "opt-out", "dmarc"}
)
_COMPLAINT_SUBJECT_RE = re.compile(
    r"complaint about message|abuse report|email feedback report|spam report|"
    r"feedback loop|fbl report",
    re.IGNORECASE,
)
_COMPLAINT_BODY_RE = re.compile(
    r"this is an? (?:e-?mail )?abuse report|feedback[- ]loop|marked (?:as|this message as) "
    r"(?:spam|junk)|reported (?:as|this message as) (?:spam|junk)|complaint",
    re.IGNORECASE,
)
_AUTOREPLY_SUBJECT_RE = re.compile(
    r"^(?:auto(?:matic)?[ -]?(?:reply|response|antwort|answer)|out of (?:the )?office|"
    r"vacation|away from|on vacation|abwesenheit|absence|r[ée]ponse automatique|"
    r"respuesta autom[áa]tica|risposta automatica|自動応答|不在)|"
    r"\b(?:auto[ -]?reply|autoreply|auto[ -]?response|out of (?:the )?office|"
    r"on vacation|away from (?:my|the) (?:desk|office)|ooo)\b",
    re.IGNORECASE,
)
_DAEMON_RE = re.compile(
    r"mailer[-_]?daemon|post_?master|mail delivery|mail-daemon|bounce|no-?reply|"
    r"delivery (?:status|subsystem|system)|mail administrator|system administrator",
    re.IGNORECASE,
)
_BOUNCE_SUBJECT_RE = re.compile(
    r"undeliver|undelivered|delivery (?:status|fail|notif|report|problem|error|has failed)|"
    r"returned mail|failure notice|could not be delivered|non[- ]?delivery|rejected|"
    r"\bbounce|mail (?:system )?error|unzustellbar|delivery delayed",
    re.IGNORECASE,
)


@dataclass
class FeedbackRecord:
    recipient: str
    feedback_type: str
    diagnostic: str


def _feedback_type(value: str) -> str:
    v = value.strip().lower()
    if v in _FEEDBACK_TYPES:
        return v
    if v in ("auth-failure", "dmarc-failure"):
        return "auth-failure"
    return v or "abuse"


def find_arf(root: Part, original: Headers | None) -> list[FeedbackRecord] | None:
    """Complaint records, or ``None`` when the message is not a complaint."""
    report_part = None
    for part in root.walk():
        if part.ctype in _ARF_TYPES:
            report_part = part
            break
    ctype_is_feedback = root.ctype == "multipart/report" and (
        root.params.get("report-type", "").lower() == "feedback-report"
    )
    if report_part is not None or ctype_is_feedback:
        fields = report_part.body if report_part is not None else ""
        return _arf_records(fields, original)
    jmrp = original.get("x-hmxmroriginalrecipient") if original is not None else ""
    subject = root.headers.get("subject")
    if jmrp or (
        original is not None
        and _COMPLAINT_SUBJECT_RE.search(subject)
        and any(_COMPLAINT_BODY_RE.search(p.body[:4000]) for p in root.walk() if p.body)
    ):
        rcpts = [address_in(jmrp)] if jmrp else []
        if not any(rcpts) and original is not None:
            rcpts = [address_in(original.get("to"))]
        return [FeedbackRecord(r, "abuse", subject) for r in rcpts if r] or [
            FeedbackRecord("", "abuse", subject)
        ]
    if root.headers.get("x-apple-unsubscribe").strip().lower() == "true":
        # Apple Mail's unsubscribe: the subscriber mails the List-Unsubscribe address.
        sender = address_in(root.headers.get("from"))
        return [FeedbackRecord(sender, "opt-out", root.headers.get("subject"))]
    return None


def _arf_records(body: str, original: Headers | None) -> list[FeedbackRecord]:
    ftype = ""
    rcpts: list[str] = []
    for line in body.split("\n"):
        name, sep, value = line.partition(":")
        if not sep:
            continue
        key = name.strip().lower()
        if key == "feedback-type" and not ftype:
            ftype = _feedback_type(value)
        elif key in ("original-rcpt-to", "removal-recipient"):
            addr = address_in(value)
            if addr and addr not in rcpts:
                rcpts.append(addr)
    if not rcpts and original is not None:
        for v in original.get_all("to")[:1]:
            for chunk in v.split(","):
                addr = address_in(chunk)
                if addr and addr not in rcpts:
                    rcpts.append(addr)
    ftype = ftype or "abuse"
    if not rcpts:
        return [FeedbackRecord("", ftype, "")]
    return [FeedbackRecord(r, ftype, "") for r in rcpts]


def is_daemon(headers: Headers) -> bool:
    return bool(_DAEMON_RE.search(headers.get("from")))


def looks_like_bounce_subject(subject: str) -> bool:
    return bool(_BOUNCE_SUBJECT_RE.search(subject))


def find_autoreply(root: Part, subject: str) -> FeedbackRecord | None:
    """An auto-reply record for the replying mailbox, or ``None``."""
    h = root.headers
    auto = h.get("auto-submitted").lower()
    flagged = (
        auto.startswith("auto-replied")
        or "x-autoreply" in h
        or "x-autorespond" in h
        or h.get("precedence").lower() == "auto_reply"
    )
    by_subject = bool(_AUTOREPLY_SUBJECT_RE.search(subject))
    if not (flagged or by_subject):
        return None
    if is_daemon(h) or looks_like_bounce_subject(subject):
        return None
    if root.ctype == "multipart/report":
        return None
    sender = address_in(h.get("from")) or address_in(h.get("reply-to"))
    if not sender:
        return None
    return FeedbackRecord(sender, "", subject)
