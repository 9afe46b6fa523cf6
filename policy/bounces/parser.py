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
from .complaints import find_arf, find_autoreply, is_daemon, looks_like_bounce_subject
from .decide import Decision, decide
from .dsn import DsnRecord, address_in, has_dsn_fields, parse_fields
from .mime import (
    Headers,
    Part,
    decode_words,
    normalise,
    parse_message,
)
from .report import BounceReport, make_report, tracking_of
from .ses import SesRecord, parse_ses
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
_MAX_REPORTS = 500
_MBOX_SPLIT_RE = re.compile(r"\n\n(?=From \S[^\n]*\n[!-9;-~]+:)")
_MAX_MBOX = 20
_MAX_NESTING = 2
_MAX_WINDOW = 4000
_DAEMON_FROM_RE = re.compile(r"mailer-daemon|mail delivery (?:subsystem|system)", re.IGNORECASE)
_STATUS_CODE_RE = re.compile(r"^\s*[245]\.\d{1,3}\.\d{1,3}")


def parse(raw: bytes) -> list[BounceReport]:
    """Parse a raw message into bounce reports; never raises."""
    try:
        return _parse(raw)
    except Exception:  # malformed mail must never break the caller
        return []


def parse_for_score(raw: bytes) -> list[dict[str, object]]:
    """Adapter for the corpus scorer: plain dicts with the scorer's keys."""
    return [r.as_dict() for r in parse(raw)]


def _status_of(field: str, diagnostic: str, action: str = "") -> str:
    """The DSN ``Status`` field, unless the remote server's own answer in the
    diagnostic carries a different code: that one is first-hand.  When the
    two disagree on temporary versus permanent, a failed delivery takes the
    permanent one (the remote refused for good, or the MTA gave up)."""
    status = codes.find_status(field) if field else ""
    in_diag = codes.find_status(diagnostic) if diagnostic else ""
    if in_diag and (not status or in_diag[0] == status[0] or status.endswith(".0.0")):
        return in_diag
    if in_diag and status and action == "failed" and in_diag[0] == "5":
        return in_diag
    return status or in_diag


def _from_dsn(
    records: list[DsnRecord],
    human: str,
    subject: str,
    exclude: set[str],
    tracking: dict[str, str],
) -> list[BounceReport]:
    out: list[BounceReport] = []
    records = records[:_MAX_REPORTS]
    rcpts = [r.recipient for r in records]
    windows = {t.recipient: t.diagnostic for t in recipients_in(human, exclude, rcpts, strict=True)}
    for rec in records[:_MAX_REPORTS]:
        action = rec.action
        diag = rec.diagnostic
        # A recipient's own block is short; a longer one is repetition.
        window = windows.get(rec.recipient, "")[:_MAX_WINDOW]
        if not diag and window:
            diag = window
        status = _status_of(rec.status, diag, action)
        reply = codes.find_reply_code(diag)
        if action in ("delivered", "relayed", "expanded") or status.startswith("2"):
            decision = Decision("delivered", "delivered", action or status)
        else:
            decision = decide(
                status,
                reply,
                diag,
                # The subject speaks for the notice as a whole: only for a lone recipient.
                window + "\n" + subject if len(records) == 1 else window,
                codes.find_command(diag + window),
                note=_STATUS_CODE_RE.sub("", rec.status, count=1),
                notice=human,
            )
            if action == "delayed" and reasons.kind_of(decision.reason) in ("unknown", "hard"):
                # A delay notice is never a permanent failure.
                decision = Decision("expired", "delay", f"Action: delayed {status}".strip())
            if rec.diagnostic_type == "x-unix" and reasons.kind_of(decision.reason) != "soft":
                # The local delivery program failed (exit code or its own
                # message); its status codes describe the program, not the
                # address.
                decision = Decision("mailererror", "x-unix", diag[:160])
        out.append(
            make_report(
                rec.recipient,
                decision,
                status=status,
                reply_code=reply,
                remote_mta=rec.remote_mta,
                diagnostic=diag,
                action=action or ("failed" if status.startswith("5") else ""),
                tracking=tracking,
            )
        )
    return out


def _from_text(
    records: list[TextRecord], human: str, subject: str, tracking: dict[str, str]
) -> list[BounceReport]:
    out: list[BounceReport] = []
    for rec in records[:_MAX_REPORTS]:
        diag = rec.diagnostic
        status = codes.find_status(diag)
        reply = codes.find_reply_code(diag)
        # The notice as a whole speaks for a recipient only when it names no
        # other: a reason from another recipient's block is never borrowed.
        alone = len(records) == 1
        if not status and alone:
            status = codes.find_status(human)
        context = (human + "\n" + subject) if alone else subject
        decision = decide(status, reply, diag, context, codes.find_command(diag), notice=human)
        delayed = status.startswith("4") or decision.rule == "delay"
        out.append(
            make_report(
                rec.recipient,
                decision,
                status=status,
                reply_code=reply,
                diagnostic=diag,
                action="delayed" if delayed else "failed",
                tracking=tracking,
            )
        )
    return out


def _from_ses(records: list[SesRecord], tracking: dict[str, str]) -> list[BounceReport]:
    out: list[BounceReport] = []
    for rec in records[:_MAX_REPORTS]:
        if rec.kind == "complaint":
            status, reply = "", ""
            decision = Decision("feedback", "complaint", rec.feedback_type)
        else:
            status = _status_of(rec.status, rec.diagnostic)
            reply = codes.find_reply_code(rec.diagnostic)
            if rec.kind == "delivery":
                decision = Decision("delivered", "delivered", "SES delivery")
            else:
                decision = decide(status, reply, rec.diagnostic)
                if rec.subtype_reason and reasons.kind_of(decision.reason) == "unknown":
                    decision = Decision(rec.subtype_reason, "ses-type", rec.subtype_reason)
        out.append(
            make_report(
                rec.recipient,
                decision,
                status=status,
                reply_code=reply,
                diagnostic=rec.diagnostic,
                feedback_type=rec.feedback_type,
                action=rec.action,
                tracking=tracking,
            )
        )
    return out


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
        return _from_ses(ses, tracking)

    human = cut_original(human_full)
    exclude = _addresses_of(h, "from", "to", "reply-to", "return-path")
    exclude |= _addresses_of(original, "from", "return-path", "sender", "reply-to")
    # When the returned message is itself a bounce, its addressees are the
    # original sender: never the failed recipient of this notice.
    nested = _addresses_of(original, "to", "cc") if _is_bounce(original) else set()
    exclude |= nested

    dsn_body = ""
    for p in root.walk():
        if p.ctype in _DSN_TYPES:
            dsn_body = p.body[:MAX_HUMAN]
            break
    if not dsn_body and has_dsn_fields(human_full):
        # DSN fields written as text, or the report of a bounce that was
        # itself returned (a bounce of a bounce).
        dsn_body = human_full
    if dsn_body:
        _, records = parse_fields(dsn_body)
        if nested and records and all(r.recipient in nested for r in records):
            return _returned(root, depth)
        records = [r for r in records if r.recipient not in nested]
        if records:
            return _from_dsn(
                records, human, subject, exclude - {r.recipient for r in records}, tracking
            )

    bounce_signal = (
        root.ctype == "multipart/report"
        or is_daemon(h)
        or looks_like_bounce_subject(subject)
        or "x-failed-recipients" in h
        # A mailing-list manager's notice about a post it refused or holds.
        or "x-list-administrivia" in h
        or bool(_LIST_NOTICE_RE.search(subject))
    )
    if bounce_signal:
        preferred = [
            a for a in failed_recipients_header(h.get("x-failed-recipients")) if a not in nested
        ]
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
            if not records_t and nested:
                return _returned(root, depth)
            if not records_t:
                records_t = [TextRecord(a, human) for a in _unnamed_recipients(preferred, original)]
            if records_t:
                return _from_text(records_t, human, subject, tracking)

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
