"""Bounce and complaint parsing for Sluice: raw message bytes in, reports out.

``parse(raw)`` returns one :class:`BounceReport` per bounced recipient and an
empty list for anything that is not a bounce, complaint or auto-reply.  It
never raises: malformed input yields ``[]`` or, when a recipient can be
found but the cause cannot, a report whose reason is ``"undefined"``
(undetermined).

How a message is read, in order:

1. Newlines are normalised once, on the raw bytes (CRLF, CR-only, a mix of
   forms and CRLF converted twice all become LF; decoded base64 and
   quoted-printable parts get the same treatment), so no later stage
   depends on the form; at most ``mime.MAX_SCAN_BYTES`` are looked
   at; an mbox file holding several messages is read message by message;
   the MIME structure is split without decoding the returned message's body.
2. Complaints: an RFC 5965 ``message/feedback-report`` part, Microsoft JMRP
   reports (``X-HmXmrOriginalRecipient``) and similar provider formats.
3. Delivery-status fields (RFC 3464 ``Final-Recipient``, ``Action``,
   ``Status``, ``Remote-MTA``, ``Diagnostic-Code``), in a
   ``message/delivery-status`` part or written into the text.
4. Otherwise the human-readable text: the returned message is cut off,
   recipients are found with the text that belongs to each (qmail, Exim,
   Sendmail, Exchange, provider notices ...).
5. Auto-replies (RFC 3834 ``Auto-Submitted: auto-replied``, vacation and
   out-of-office notices).

For every recipient the enhanced status code and SMTP reply code are taken
from the structure or the diagnostic (``codes``), and the reason is
chosen by ``reasons.classify``.  When the text gives no enhanced code,
one is derived from the reply code and the reason (550 user unknown at RCPT
gives 5.1.1, a 452 mailbox full 4.2.2, an unexplained 5xx 5.0.0).  The stock
"user unknown" with neither the refused command, nor an address-level status
code, nor the reporting MTA's own verdict on the address is read as
``filtered``: servers that filter after DATA use the same words, so it is
not enough to suppress the address.

Reasons, their coarse class (``kind``) and whether they are hard:

=================  =========  ====================================================
reason             kind       meaning
=================  =========  ====================================================
userunknown        hard       mailbox does not exist
hostunknown        hard       domain does not exist / has no mail host
hasmoved           hard       address moved, no longer valid
notaccept          hard       domain accepts no mail (null MX, 521)
mailboxfull        soft       over quota
exceedlimit        soft       message exceeds an administrative limit
mesgtoobig         soft       message too large
systemfull         soft       receiving system out of storage
systemerror        soft       remote system error
mailererror        soft       local delivery agent failed
networkerror       soft       connection, DNS or routing problem
expired            soft       gave up after retrying (delivery time expired)
toomanyconn        soft       too many connections or recipients
suspend            soft       mailbox disabled or suspended
syntaxerror        soft       SMTP protocol error
failedstarttls     soft       TLS negotiation failed
blocked            block      sender refused: low reputation, DNSBL, MS 5.7.515
badreputation      block      reputation deferral by code (Microsoft 4.7.650)
rejected           block      sender address or domain refused
filtered           block      recipient-side filter refused the message
policyviolation    block      message violates the receiver's policy
spamdetected       block      content judged to be spam
virusdetected      block      content judged to carry malware
securityerror      block      security requirement not met
authfailure        block      SPF, DKIM or DMARC failure
requireptr         block      sending IP lacks reverse DNS
notcompliantrfc    block      message not RFC 5322 compliant
norelaying         block      relaying denied
contenterror       block      content or encoding refused
speeding           block      rate limited
feedback           complaint  ARF complaint; ``feedback_type`` says which
vacation           autoreply  auto-reply / out of office
delivered          delivered  a success DSN (``action`` delivered/relayed)
onhold, undefined  unknown    cause could not be determined
=================  =========  ====================================================

``hard`` is true only for a ``hard``-kind reason with a permanent (5.x.x)
outcome: those are the only reports that should suppress the address.
``kind == "block"`` marks the *sending side* (IP, domain, content,
authentication): Gmail's "low reputation of the sending IP", Microsoft's
5.7.515 or a Spamhaus listing say nothing about the recipient, so a block
must never suppress the recipient; it feeds IP and domain reputation
instead.  Soft bounces are retried and counted; complaints unsubscribe;
auto-replies are ignored.
"""

from __future__ import annotations

import re

from . import codes, reasons
from .build import MAX_REPORTS, from_dsn, from_ses, from_text
from .complaints import find_arf, find_autoreply, is_daemon, looks_like_bounce_subject
from .dsn import address_in, has_dsn_fields, parse_fields
from .mime import (
    Headers,
    Part,
    decode_words,
    normalise,
    parse_message,
)
from .report import BounceReport, make_report, tracking_of
from .ses import parse_ses
from .text import (
    MAX_HUMAN,
    TextRecord,
    cut_original,
    failed_recipients_header,
    human_text,
    original_headers,
    recipients_in,
)

__all__ = ["BounceReport", "parse", "parse_for_score"]

_DSN_TYPES = (
    "message/delivery-status",
    "message/global-delivery-status",
    "text/delivery-status",
)
_TEXT_TYPES = ("text/plain", "text/html", "text/enriched", "")
_WS_RE = re.compile(r"\s+")
# Phrases that make a text message a bounce even without an SMTP code.
_EVIDENCE_RE = re.compile(
    r"could not be delivered|couldn'?t be delivered|(?:was|message) not delivered|undeliverable|"
    r"delivery (?:has )?failed|failed to deliver|permanent(?:ly)? (?:error|fatal|failure)|"
    r"following (?:address(?:es|\(es\))?|recipients?)[^\n]{0,40}(?:failed|errors?)|"
    r"unable to deliver|delivery to the following|not be delivered|qmail-send|"
    r"mail delivery failed|did not reach|delivery problem|returned to sender|"
    r"transcript of session|while talking to|failure reasons|"
    r"delivery status notification|recipients? (?:was|were) rejected|"
    r"送信|届きません|配信",
    re.IGNORECASE,
)
_MBOX_SPLIT_RE = re.compile(r"\n\n(?=From \S[^\n]*\n[!-9;-~]+:)")
_MAX_MBOX = 20


def parse(raw: bytes) -> list[BounceReport]:
    """Parse a raw message into bounce reports; never raises."""
    try:
        return _parse(raw)
    except Exception:  # malformed mail must never break the caller
        return []


def parse_for_score(raw: bytes) -> list[dict[str, object]]:
    """Adapter for the corpus scorer: plain dicts with the scorer's keys."""
    return [r.as_dict() for r in parse(raw)]


def _addresses_of(headers: Headers | None, *names: str) -> set[str]:
    out: set[str] = set()
    if headers is None:
        return out
    for n in names:
        for v in headers.get_all(n):
            for chunk in v.split(","):
                a = address_in(chunk)
                if a:
                    out.add(a)
    return out


def _unnamed_recipients(failed: list[str], original: Headers | None) -> list[str]:
    """Who failed when the notice's text names no recipient.

    ``X-Failed-Recipients`` when it is all there is; the returned message's
    single ``To:`` address when there is no such header, or when the header
    names one other address the notice never repeats: an alias, a group or a
    rewritten address disagrees with the returned message, and the returned
    message is what failed.
    """
    to = sorted(_addresses_of(original, "to"))
    if len(to) == 1 and len(failed) <= 1:
        return to
    return failed


def _parse(raw: bytes) -> list[BounceReport]:
    text = normalise(raw)
    if text.startswith("From "):
        # An mbox file may hold several messages, each after a "From " line.
        messages = _MBOX_SPLIT_RE.split(text, maxsplit=_MAX_MBOX - 1)
        if len(messages) > 1:
            out = [r for m in messages for r in _parse_one(m)]
            return out[:MAX_REPORTS]
    return _parse_one(text)


def _parse_one(text: str) -> list[BounceReport]:
    if not text.strip():
        return []
    root = parse_message(text)
    h = root.headers
    if not len(h):
        return []
    subject = decode_words(h.get("subject"))
    human_full = human_text(root)
    original = original_headers(root, human_full)
    tracking = tracking_of(original)

    complaints = find_arf(root, original)
    if complaints is not None:
        return [
            make_report(
                c.recipient,
                "feedback",
                feedback_type=c.feedback_type,
                diagnostic=c.diagnostic,
                tracking=tracking,
            )
            for c in complaints[:MAX_REPORTS]
        ]

    ses = parse_ses(human_full)
    if ses is not None:
        return from_ses(ses, tracking)

    human = cut_original(human_full)
    exclude = _addresses_of(h, "from", "to", "reply-to", "return-path")
    exclude |= _addresses_of(original, "from", "return-path", "sender", "reply-to")

    dsn_body = _dsn_body(root, human_full)
    if dsn_body:
        _, records = parse_fields(dsn_body)
        if records:
            return from_dsn(
                records, human, subject, exclude - {r.recipient for r in records}, tracking
            )

    if _bounce_signal(root, subject):
        found = _from_bounce_text(h, human, subject, exclude, original, tracking)
        if found is not None:
            return found

    auto = find_autoreply(root, subject)
    if auto is not None:
        return [
            make_report(auto.recipient, "vacation", diagnostic=auto.diagnostic, tracking=tracking)
        ]
    return []


def _dsn_body(root: Part, human_full: str) -> str:
    """The delivery-status fields: a message/delivery-status part, else DSN-style text."""
    for p in root.walk():
        if p.ctype in _DSN_TYPES:
            if p.body:
                return p.body[:MAX_HUMAN]
            break
    if has_dsn_fields(human_full):
        # DSN fields written as text, or the report of a bounce that was
        # itself returned (a bounce of a bounce).
        return human_full
    return ""


def _bounce_signal(root: Part, subject: str) -> bool:
    h = root.headers
    return (
        root.ctype == "multipart/report"
        or is_daemon(h)
        or looks_like_bounce_subject(subject)
        or "x-failed-recipients" in h
    )


def _from_bounce_text(
    h: Headers,
    human: str,
    subject: str,
    exclude: set[str],
    original: Headers | None,
    tracking: dict[str, str],
) -> list[BounceReport] | None:
    """Reports from a bounce's plain text; None when it names no failed recipient."""
    preferred = failed_recipients_header(h.get("x-failed-recipients"))
    evidence = bool(
        preferred
        or codes.find_status(human)
        or codes.find_reply_code(human)
        or _EVIDENCE_RE.search(human)
        or _EVIDENCE_RE.search(_WS_RE.sub(" ", human))
    )
    records_t = recipients_in(human, exclude - set(preferred), preferred or None)
    if not evidence:
        # Without a code or a bounce phrase, a recipient counts only when
        # the text that follows it states a delivery error.
        records_t = [t for t in records_t if reasons.reason_from_text(t.diagnostic)]
    if records_t or evidence:
        if not records_t:
            records_t = [TextRecord(a, human) for a in _unnamed_recipients(preferred, original)]
        if records_t:
            return from_text(records_t, human, subject, tracking)
    return None
