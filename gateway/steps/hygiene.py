"""Clean bytes in: line endings, a parseable header section, no forged control headers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway import metrics, replies
from gateway.message import MalformedMessage, Message, normalize_line_endings
from gateway.replies import Verdict

if TYPE_CHECKING:
    from gateway.pipeline import Transaction

MAX_RECEIVED = (
    50  # RFC 5321 §6.3 suggests at least 100 hops is a loop; 50 is plenty for one relay chain
)
INTERNAL_PREFIX = "x-sluice-"


async def line_endings(tx: Transaction) -> Verdict | None:
    """Bare CR or LF: rewrite to CRLF, or 550 5.5.2 (smtp.line_endings)."""
    fixed, count = normalize_line_endings(tx.data)
    if count:
        metrics.BARE_NEWLINES.inc(count)
        if tx.rt.settings.smtp.line_endings == "reject":
            return replies.BARE_NEWLINE
        tx.data = fixed
    return None


async def parse_headers(tx: Transaction) -> Verdict | None:
    """Split the header section from the body; refuse oversize headers and loops."""
    try:
        tx.message = Message.parse(tx.data)
    except MalformedMessage:
        return replies.HEADERS_TOO_BIG
    if sum(1 for name, _ in tx.message.fields if name == "received") > MAX_RECEIVED:
        return replies.MAIL_LOOP
    return None


async def strip_internal_headers(tx: Transaction) -> Verdict | None:
    """Drop client-supplied VMTA, job and internal headers; Sluice sets its own."""
    assert tx.message is not None and tx.session.tenant is not None
    tenant = tx.session.tenant.settings
    job = tx.message.get(tenant.job_header)
    tx.job = job[:200] if job else ""
    tx.message.remove(tenant.vmta_header, tenant.job_out_header, "X-Virtual-MTA", "X-Job")
    tx.message.fields = [
        (n, raw) for n, raw in tx.message.fields if not n.startswith(INTERNAL_PREFIX)
    ]
    return None
