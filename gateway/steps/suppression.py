"""Never mail an address that bounced hard, complained or unsubscribed."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway import replies
from gateway.replies import Verdict

if TYPE_CHECKING:
    from gateway.pipeline import Transaction


async def not_suppressed(tx: Transaction) -> Verdict | None:
    """550 5.7.1 naming the reason when the tenant's or the global list holds the address."""
    assert tx.session.tenant is not None
    entry = tx.rt.policy.suppression.check(tx.session.tenant.name, tx.candidate)
    return replies.suppressed(entry.describe()) if entry is not None else None
