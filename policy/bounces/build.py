"""Reports from what the parser found: DSN records, bounce-text records, SES records.

Each record's status is settled (the DSN field or the remote server's own
code), its reason classified (``reasons.classify``) and a report made
(``report.make_report``), at most ``MAX_REPORTS`` per message.
"""

from __future__ import annotations

import re

from . import codes, reasons
from .dsn import DsnRecord
from .report import BounceReport, make_report
from .ses import SesRecord
from .text import TextRecord, recipients_in

MAX_REPORTS = 500
_STATUS_CODE_RE = re.compile(r"^\s*[245]\.\d{1,3}\.\d{1,3}")


def status_of(field: str, diagnostic: str, action: str = "") -> str:
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
        window = windows.get(rec.recipient, "")
        if not diag and window:
            diag = window
        status = status_of(rec.status, diag, action)
        reply = codes.find_reply_code(diag)
        if action in ("delivered", "relayed", "expanded") or status.startswith("2"):
            reason = "delivered"
        else:
            reason = reasons.classify(
                status,
                reply,
                diag,
                window + "\n" + subject,
                codes.find_command(diag + window),
                note=_STATUS_CODE_RE.sub("", rec.status, count=1),
                notice=human,
            )
            if action == "delayed" and reasons.kind_of(reason) == "unknown":
                reason = "expired"
            if rec.diagnostic_type == "x-unix" and reasons.kind_of(reason) != "soft":
                # The local delivery program failed (exit code or its own
                # message); its status codes describe the program, not the
                # address.
                reason = "mailererror"
        out.append(
            make_report(
                rec.recipient,
                reason,
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
        if not status and len(records) == 1:
            status = codes.find_status(human)
        reason = reasons.classify(
            status, reply, diag, human + "\n" + subject, codes.find_command(diag), notice=human
        )
        out.append(
            make_report(
                rec.recipient,
                reason,
                status=status,
                reply_code=reply,
                diagnostic=diag,
                action="delayed" if status.startswith("4") else "failed",
                tracking=tracking,
            )
        )
    return out


def from_ses(records: list[SesRecord], tracking: dict[str, str]) -> list[BounceReport]:
    out: list[BounceReport] = []
    for rec in records[:MAX_REPORTS]:
        if rec.kind == "complaint":
            reason, status, reply = "feedback", "", ""
        else:
            status = status_of(rec.status, rec.diagnostic)
            reply = codes.find_reply_code(rec.diagnostic)
            if rec.kind == "delivery":
                reason = "delivered"
            else:
                reason = reasons.classify(status, reply, rec.diagnostic)
                if rec.subtype_reason and reasons.kind_of(reason) == "unknown":
                    reason = rec.subtype_reason
        out.append(
            make_report(
                rec.recipient,
                reason,
                status=status,
                reply_code=reply,
                diagnostic=rec.diagnostic,
                feedback_type=rec.feedback_type,
                action=rec.action,
                tracking=tracking,
            )
        )
    return out
