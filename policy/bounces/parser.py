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
   Sendmail, Exchange, provider notices, mailing-list managers ...).
   When the returned message is itself a notice (a bounce of a bounce),
   its addressee is the original sender and never a failed recipient: the
   returned notice is read instead.
5. Auto-replies (RFC 3834 ``Auto-Submitted: auto-replied``, vacation and
   out-of-office notices).

For every recipient the enhanced status code and SMTP reply code are taken
from the structure or the diagnostic (``codes``), and the reason is
chosen by ``decide.decide`` from that recipient's own text (its docstring
lists the principles and their order); the rule that fired and the text it
fired on stay on the report (``rule``, ``evidence``).  When the text gives no enhanced code,
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
from dataclasses import dataclass

from . import codes, readings, reasons
from .complaints import find_arf, find_autoreply, is_daemon, looks_like_bounce_subject
from .decide import Decision
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
    r"送信|届きません|配信|"
    r"awaits? (?:the )?moderator|is being held until|post by non-?member|members-only"
    r"|only (?:list )?(?:members|subscribers) (?:may|can) post",
    re.IGNORECASE,
)
_LIST_NOTICE_RE = re.compile(
    r"awaits moderator approval|(?:post|posting|message) (?:to \S+ )?(?:was )?rejected"
    r"|not delivered to (?:the )?list",
    re.IGNORECASE,
)
_MAX_REPORTS = readings.MAX_REPORTS
_MBOX_SPLIT_RE = re.compile(r"\n\n(?=From \S[^\n]*\n[!-9;-~]+:)")
_MAX_MBOX = 20
_MAX_NESTING = 2
_DAEMON_FROM_RE = re.compile(r"mailer-daemon|mail delivery (?:subsystem|system)", re.IGNORECASE)


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
            return out[:_MAX_REPORTS]
    return _parse_one(text)


def _is_bounce(headers: Headers | None) -> bool:
    """Whether the returned message is itself a delivery notice: sent by a
    mail system (null return path, a daemon's From) and shaped or titled as
    a notice.  Both are needed: test messages and forwards borrow either."""
    if headers is None:
        return False
    null_sender = headers.get("return-path").strip() == "<>"
    if not (null_sender or _DAEMON_FROM_RE.search(headers.get("from"))):
        return False
    return headers.get("content-type").lower().startswith(
        "multipart/report"
    ) or looks_like_bounce_subject(decode_words(headers.get("subject")))


def _returned(root: Part, depth: int) -> list[BounceReport]:
    """The reports of a returned message that is itself a bounce (a bounce
    of a bounce): its failed recipients are the ones that matter."""
    if depth >= _MAX_NESTING:
        return []
    for p in root.walk():
        if p.ctype in ("message/rfc822", "message/global") and p.body.strip():
            return _parse_one(p.body.lstrip("\n"), depth + 1)
    return []


@dataclass
class _Notice:
    """What the readers of one notice share."""

    root: Part
    subject: str
    human_full: str
    human: str
    original: Headers | None
    tracking: dict[str, str]
    exclude: set[str]
    # The returned message's addressees when it is itself a notice (a bounce
    # of a bounce): the original sender, never the failed recipient.
    nested: set[str]
    depth: int


def _parse_one(text: str, depth: int = 0) -> list[BounceReport]:
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
                Decision("feedback", "complaint", c.feedback_type),
                feedback_type=c.feedback_type,
                diagnostic=c.diagnostic,
                tracking=tracking,
            )
            for c in complaints[:_MAX_REPORTS]
        ]

    ses = parse_ses(human_full)
    if ses is not None:
        return readings.from_ses(ses, tracking)

    exclude = _addresses_of(h, "from", "to", "reply-to", "return-path")
    exclude |= _addresses_of(original, "from", "return-path", "sender", "reply-to")
    nested = _addresses_of(original, "to", "cc") if _is_bounce(original) else set()
    notice = _Notice(
        root,
        subject,
        human_full,
        cut_original(human_full),
        original,
        tracking,
        exclude | nested,
        nested,
        depth,
    )
    found = _dsn_reports(notice)
    if found is None:
        found = _text_reports(notice)
    if found is not None:
        return found

    auto = find_autoreply(root, subject)
    if auto is not None:
        return [
            make_report(
                auto.recipient,
                Decision("vacation", "autoreply", auto.diagnostic[:160]),
                diagnostic=auto.diagnostic,
                tracking=tracking,
            )
        ]
    return []


def _dsn_reports(n: _Notice) -> list[BounceReport] | None:
    """Reports from delivery-status fields, or ``None`` when there are none."""
    dsn_body = ""
    for p in n.root.walk():
        if p.ctype in _DSN_TYPES:
            dsn_body = p.body[:MAX_HUMAN]
            break
    if not dsn_body and has_dsn_fields(n.human_full):
        # DSN fields written as text, or the report of a bounce that was
        # itself returned (a bounce of a bounce).
        dsn_body = n.human_full
    if not dsn_body:
        return None
    _, records = parse_fields(dsn_body)
    if n.nested and records and all(r.recipient in n.nested for r in records):
        return _returned(n.root, n.depth)
    records = [r for r in records if r.recipient not in n.nested]
    if not records:
        return None
    exclude = n.exclude - {r.recipient for r in records}
    return readings.from_dsn(records, n.human, n.subject, exclude, n.tracking)


def _text_reports(n: _Notice) -> list[BounceReport] | None:
    """Reports from a notice's text, or ``None`` when it is not a notice."""
    h = n.root.headers
    bounce_signal = (
        n.root.ctype == "multipart/report"
        or is_daemon(h)
        or looks_like_bounce_subject(n.subject)
        or "x-failed-recipients" in h
        # A mailing-list manager's notice about a post it refused or holds.
        or "x-list-administrivia" in h
        or bool(_LIST_NOTICE_RE.search(n.subject))
    )
    if not bounce_signal:
        return None
    human = n.human
    preferred = [
        a for a in failed_recipients_header(h.get("x-failed-recipients")) if a not in n.nested
    ]
    evidence = bool(
        preferred
        or codes.find_status(human)
        or codes.find_reply_code(human)
        or _EVIDENCE_RE.search(human)
        or _EVIDENCE_RE.search(_WS_RE.sub(" ", human))
    )
    records = recipients_in(human, n.exclude - set(preferred), preferred or None)
    if not evidence:
        # Without a code or a bounce phrase, a recipient counts only when
        # the text that follows it states a delivery error.
        records = [t for t in records if reasons.reason_from_text(t.diagnostic)]
    if not (records or evidence):
        return None
    if not records and n.nested:
        return _returned(n.root, n.depth)
    if not records:
        records = [TextRecord(a, human) for a in _unnamed_recipients(preferred, n.original)]
    if not records:
        return None
    return readings.from_text(records, human, n.subject, n.tracking)
