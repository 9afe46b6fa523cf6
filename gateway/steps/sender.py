"""A tenant sends only from its own domains: envelope sender and header From."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway import replies
from gateway.replies import Verdict

if TYPE_CHECKING:
    from gateway.pipeline import Transaction


async def envelope_sender_domain(tx: Transaction) -> Verdict | None:
    """550 5.7.1 when MAIL FROM is not one of the tenant's sender domains."""
    if not tx.mail_from or "@" not in tx.mail_from:
        return replies.NULL_SENDER
    assert tx.session.tenant is not None
    domain = tx.mail_from.rpartition("@")[2]
    return None if tx.session.tenant.owns_domain(domain) else replies.SENDER_NOT_ALLOWED


async def header_from_domain(tx: Transaction) -> Verdict | None:
    """550 5.7.1 unless the message has one From address in a sender domain."""
    assert tx.message is not None and tx.session.tenant is not None
    domains = tx.message.from_domains()
    if len(domains) != 1:
        return replies.FROM_MISSING
    tx.from_domain = domains[0]
    return None if tx.session.tenant.owns_domain(tx.from_domain) else replies.FROM_NOT_ALLOWED
