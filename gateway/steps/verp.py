"""The VERP envelope sender: bounces come back naming the message they answer."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.replies import Verdict
from policy.feedback import verp

if TYPE_CHECKING:
    from gateway.pipeline import Transaction


async def verp_sender(tx: Transaction) -> Verdict | None:
    """Send with bounces+<token>@<bounce_domain> when the tenant has a bounce domain.

    Only for one recipient: a token binds the one address it was issued for,
    and one transaction has one return path, so a transaction with several
    recipients keeps the sender's own (``policy.feedback.verp``).
    """
    assert tx.session.tenant is not None and tx.ip is not None
    domain = tx.session.tenant.settings.bounce_domain
    secrets = tx.rt.settings.feedback.verp_secrets
    # A null sender (a bounce the tenant relays) must stay null: RFC 5321 §4.5.5.
    if not domain or not secrets or not tx.mail_from or len(tx.recipients) != 1:
        return None
    origin = verp.Origin(
        tenant=tx.session.tenant.name,
        message_id=tx.message_id,
        recipient=tx.recipients[0],
        ip=tx.ip.ip,
        job=tx.job,
    )
    tx.relay_from = verp.address(verp.keys_for(secrets), origin, domain)
    return None
