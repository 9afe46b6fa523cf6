"""One report per recipient from each kind of record a notice holds.

RFC 3464 delivery-status records, recipients found in a notice's text, and
Amazon SES notifications each give a recipient, a diagnostic and codes; the
reason comes from ``decide`` with only the text that belongs to that
recipient (a reason is never borrowed from another recipient's block).
"""

from __future__ import annotations

import re

from . import codes, reasons
from .decide import Decision, decide, delay_words
from .dsn import DsnRecord
from .report import BounceReport, make_report
from .ses import SesRecord
from .text import TextRecord, recipients_in

MAX_REPORTS = 500
# A recipient's own block is short; a longer one is repetition.
_MAX_WINDOW = 4000
_STATUS_CODE_RE = re.compile(r"^\s*[245]\.\d{1,3}\.\d{1,3}")


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


def from_dsn(
    records: list[DsnRecord],
    human: str,
    subject: str,
    exclude: set[str],
    tracking: dict[str, str],
) -> list[BounceReport]:
    out: list[BounceReport] = []
    records = records[:MAX_REPORTS]
    rcpts = [r.recipient for r in records]
    windows = {t.recipient: t.diagnostic for t in recipients_in(human, exclude, rcpts, strict=True)}
    for rec in records[:MAX_REPORTS]:
        action = rec.action
        diag = rec.diagnostic
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


def from_text(
    records: list[TextRecord], human: str, subject: str, tracking: dict[str, str]
) -> list[BounceReport]:
    out: list[BounceReport] = []
    for rec in records[:MAX_REPORTS]:
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
        if not delayed and not status.startswith("5") and not reply.startswith("5"):
            # A delay notice ("will keep trying") says so once, for all.
            words = delay_words(subject + "\n" + human)
            if words:
                delayed = True
                if reasons.kind_of(decision.reason) in ("hard", "unknown"):
                    decision = Decision("expired", "delay", words)
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


def from_ses(records: list[SesRecord], tracking: dict[str, str]) -> list[BounceReport]:
    out: list[BounceReport] = []
    for rec in records[:MAX_REPORTS]:
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
