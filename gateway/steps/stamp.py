"""Headers Sluice adds: identity, PowerMTA routing, and the trace."""

from __future__ import annotations

import re
import secrets
import time
from datetime import UTC, datetime
from email.utils import format_datetime, formatdate
from typing import TYPE_CHECKING

from gateway.replies import Verdict

if TYPE_CHECKING:
    from gateway.pipeline import Transaction

SAFE_VALUE = re.compile(r"[^\x21-\x7e]")


async def message_id_and_date(tx: Transaction) -> Verdict | None:
    """Add Message-ID and Date when the sender left them out."""
    assert tx.message is not None
    message_id = tx.message.get("message-id")
    if not message_id:
        domain = tx.mail_from.rpartition("@")[2] or tx.rt.settings.smtp.hostname
        message_id = f"<{int(time.time())}.{secrets.token_hex(8)}@{domain}>"
        tx.message.append("Message-ID", message_id)
    tx.message_id = message_id
    if tx.message.get("date") is None:
        tx.message.append("Date", formatdate(localtime=False, usegmt=True))
    return None


async def virtual_mta_and_job(tx: Transaction) -> Verdict | None:
    """Stamp the chosen VMTA and the campaign id for PowerMTA's accounting."""
    assert tx.message is not None and tx.ip is not None and tx.session.tenant is not None
    tenant = tx.session.tenant.settings
    tx.message.prepend(tenant.vmta_header, tx.ip.vmta)
    if tx.job:
        tx.message.prepend(tenant.job_out_header, SAFE_VALUE.sub("", tx.job))
    return None


async def received(tx: Transaction) -> Verdict | None:
    """Add our Received: trace field (RFC 5321 §4.4)."""
    assert tx.message is not None
    s = tx.session
    protocol = "ESMTP" + ("S" if s.tls else "") + ("A" if s.username else "")
    helo = SAFE_VALUE.sub("", s.helo)[:100] or "unknown"
    when = format_datetime(datetime.now(UTC))
    recipient = f"\r\n\tfor <{tx.recipients[0]}>" if len(tx.recipients) == 1 else ""
    tx.message.prepend(
        "Received",
        f"from {helo} ([{s.peer}])\r\n\tby {tx.rt.settings.smtp.hostname} (Sluice) with {protocol}"
        f" id {s.id}{recipient};\r\n\t{when}",
    )
    return None
