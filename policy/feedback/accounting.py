"""PowerMTA accounting records in, ``Feedback`` out: pure, no I/O.

PowerMTA writes one record per event to its accounting files (CSV, RFC 4180,
a header line naming the columns) and can post the same records as JSON.
The record types Sluice reads:

====  ==============================================  =====================
type  what happened                                   becomes
====  ==============================================  =====================
d     delivered                                       nothing
b     bounced while delivering (refused by the MX)    a bounce
rb    remote bounce: a DSN that came back later       a bounce
rs    remote status: a later DSN (delayed, failed)    a delay or a bounce
t     transient failure, will retry                   a delay (deferral)
tq    transient failure of a whole queue              nothing (no recipient)
f     feedback loop report                            a complaint
====  ==============================================  =====================

The message a record is about: the VERP token in ``orig`` (the envelope
sender Sluice set) names tenant, message, recipient, IP and job, and the
record counts only when its recipient (``rcpt``) is the one the token was
issued for; a record under a ``bounces+`` sender whose token does not
verify for that recipient (forged, expired, another address) carries
nothing. Without a VERP sender, the tenant comes from the sender's domain
and the rest from the record's own fields (``header_Message-Id``,
``dlvSourceIp``, ``jobId`` or ``header_X-Job``): such records come from
PowerMTA itself (its file, or the webhook behind its token). Column names
are compared without case.

The reason comes from the record's status and diagnostic text, through the
same classifier as DSNs; PowerMTA's ``bounceCat`` decides only when the text
says nothing, or when it says the refusal was about the sender
(spam-related, policy-related...) and the text would have blamed the
recipient: a block must never suppress an address.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from datetime import datetime
from functools import lru_cache
from typing import Any

from policy.bounces import codes as bounce_codes
from policy.bounces.decide import Decision, decide
from policy.bounces.reasons import UNDEFINED, kind_of
from policy.bounces.report import BounceReport, make_report
from policy.feedback import verp
from policy.feedback.decision import Feedback

TYPES = ("d", "b", "rb", "rs", "t", "tq", "f")
# bounceCat -> the taxonomy's reason, for a record whose text says nothing.
CATEGORY_REASON = {
    "bad-mailbox": "userunknown",
    "bad-domain": "hostunknown",
    "routing-errors": "hostunknown",
    "inactive-mailbox": "suspend",
    "quota-issues": "mailboxfull",
    "message-expired": "expired",
    "no-answer-from-host": "networkerror",
    "bad-connection": "networkerror",
    "relaying-issues": "norelaying",
    "spam-related": "blocked",
    "policy-related": "policyviolation",
    "content-related": "contenterror",
    "virus-related": "virusdetected",
    "protocol-errors": "syntaxerror",
    "bad-configuration": "systemerror",
    "invalid-sender": "rejected",
}
BLOCK_CATEGORIES = frozenset(
    {"spam-related", "policy-related", "content-related", "virus-related", "invalid-sender"}
)
TenantOf = Callable[[str], "str | None"]  # envelope sender -> tenant name


def rows(lines: Iterable[str], header: list[str]) -> Iterator[dict[str, str]]:
    """Records of CSV ``lines`` under ``header``; a repeated header line switches columns."""
    columns = [c.strip().lower() for c in header]
    for row in csv.reader(lines):
        if not row:
            continue
        if row[0].strip().lower() == "type":
            columns = [c.strip().lower() for c in row]
            continue
        yield dict(zip(columns, row, strict=False))


def lowered(record: dict[str, Any]) -> dict[str, str]:
    """A JSON record with lower-case keys and text values."""
    return {str(k).lower(): "" if v is None else str(v) for k, v in record.items()}


def to_feedback(
    record: dict[str, str],
    key: str,
    keys: verp.Verifier | None,
    tenant_of: TenantOf,
    now: float,
    unmatched: Callable[[], None] = lambda: None,
) -> Feedback | None:
    """The feedback a record (lower-case keys) carries, or None when it carries none."""
    kind = record.get("type", "").strip().lower()
    if kind not in ("b", "rb", "rs", "t", "f"):
        return None
    action = record.get("dsnaction", "").strip().lower()
    if kind == "rs" and action not in ("delayed", "failed"):
        return None
    recipient = _address(record.get("rcpt") or record.get("orcpt") or "")
    origin = _origin(record, recipient, keys, tenant_of, now)
    if origin is None:
        if verp.token_of(_address(record.get("orig", ""))) is not None:
            unmatched()  # a VERP sender whose token is not this recipient's: acts on nothing
        return None
    report = _report(kind, action, recipient or origin.recipient, record)
    return Feedback(origin, report, "acct", key, _when(record.get("timelogged", ""), now))


def _origin(
    record: dict[str, str],
    recipient: str,
    keys: verp.Verifier | None,
    tenant_of: TenantOf,
    now: float,
) -> verp.Origin | None:
    sender = _address(record.get("orig", ""))
    ip = record.get("dlvsourceip", "").strip()
    token = verp.token_of(sender) if sender else None
    if token is not None:
        if keys is None:
            return None
        found = verp.origin_for(
            keys,
            token,
            recipient,
            now=now,
            message_id=record.get("header_message-id", ""),
            job=record.get("jobid") or record.get("header_x-job") or "",
        )
        if found is None:
            return None
        return found if found.ip or not ip else replace(found, ip=ip)
    tenant = tenant_of(sender) if sender else None
    if tenant is None:
        return None
    return verp.Origin(
        tenant=tenant,
        message_id=record.get("header_message-id", "").strip(),
        recipient=recipient,
        ip=ip,
        job=(record.get("jobid") or record.get("header_x-job") or "").strip(),
    )


def _report(kind: str, action: str, recipient: str, record: dict[str, str]) -> BounceReport:
    tracking = {
        "x_job": record.get("jobid") or record.get("header_x-job", ""),
        "x_mw_campaign_uid": record.get("header_x-mw-campaign-uid", ""),
        "x_mw_subscriber_uid": record.get("header_x-mw-subscriber-uid", ""),
        "message_id": record.get("header_message-id", ""),
    }
    if kind == "f":
        feedback_type = record.get("feedbacktype", "").strip() or "abuse"
        complaint = Decision("feedback", "complaint", feedback_type)
        return make_report(recipient, complaint, feedback_type=feedback_type, tracking=tracking)
    diagnostic = record.get("dsndiag", "")
    status = bounce_codes.find_status(record.get("dsnstatus", "")) or bounce_codes.find_status(
        diagnostic
    )
    reply_code = bounce_codes.find_reply_code(diagnostic)
    category = record.get("bouncecat", "").strip().lower()
    decision = decide(status, reply_code, diagnostic)
    reason = decision.reason
    if reason == UNDEFINED or (category in BLOCK_CATEGORIES and kind_of(reason) == "hard"):
        # PowerMTA's own category of the bounce settles what the text cannot.
        decision = Decision(CATEGORY_REASON.get(category, reason), "pmta-category", category)
    delayed = kind == "t" or action == "delayed"
    return make_report(
        recipient,
        decision,
        status=status,
        reply_code=reply_code,
        remote_mta=record.get("dsnmta", ""),
        diagnostic=diagnostic,
        action="delayed" if delayed else "failed",
        tracking=tracking,
    )


def _address(value: str) -> str:
    value = value.strip().strip("<>").strip()
    return value.removeprefix("rfc822;").strip() if value.lower().startswith("rfc822;") else value


def _when(value: str, now: float) -> float:
    parsed = _timestamp(value.strip())
    return now if parsed is None else parsed


@lru_cache(maxsize=4096)
def _timestamp(value: str) -> float | None:
    # Cached: records of one second share their timeLogged, and strptime is slow.
    for fmt in ("%Y-%m-%d %H:%M:%S%z", "%Y-%m-%d %H:%M:%S %z", "%Y-%m-%dT%H:%M:%S%z"):
        try:
            return datetime.strptime(value, fmt).timestamp()
        except ValueError:
            continue
    return None


def tenant_by_sender(tenants: Iterable[tuple[str, tuple[str, ...]]]) -> TenantOf:
    """A lookup of the tenant owning an envelope sender's domain; exact domains before "*"."""
    exact: dict[str, str] = {}
    suffixes: list[tuple[str, str]] = []
    anything: str | None = None
    for name, domains in tenants:
        for domain in domains:
            domain = domain.lower()
            if domain == "*":
                anything = anything or name
            elif domain.startswith("*."):
                suffixes.append((domain[1:], name))
            else:
                exact.setdefault(domain, name)

    def tenant_of(sender: str) -> str | None:
        domain = sender.rpartition("@")[2].lower().rstrip(".")
        if domain in exact:
            return exact[domain]
        for suffix, name in suffixes:
            if domain.endswith(suffix):
                return name
        return anything

    return tenant_of
