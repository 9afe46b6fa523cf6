"""Recipient addresses and how many one transaction may carry."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from gateway import replies
from gateway.replies import Verdict

if TYPE_CHECKING:
    from gateway.pipeline import Transaction

# aiosmtpd hands over whatever sat between the brackets; a control character or
# whitespace there is an injection attempt, not an address (RFC 5321 §4.1.2).
ADDRESS = re.compile(
    r"^[^\x00-\x20\x7f<>()\[\]\\,;:@\"]+(?:\.[^\x00-\x20\x7f<>()\[\]\\,;:@\"]+)*@[^\x00-\x20\x7f@<>]+$"
)


async def recipient_address(tx: Transaction) -> Verdict | None:
    """553 5.1.3 for an address with controls, spaces or no domain."""
    return None if ADDRESS.match(tx.candidate) else replies.BAD_ADDRESS


async def recipient_limit(tx: Transaction) -> Verdict | None:
    """452 4.5.3 past smtp.max_recipients; the rest come in a new transaction."""
    over = len(tx.recipients) >= tx.rt.settings.smtp.max_recipients
    return replies.TOO_MANY_RECIPIENTS if over else None
