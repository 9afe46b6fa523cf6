"""Hand the message on: 250 upstream only after the next hop said 250."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.replies import Verdict

if TYPE_CHECKING:
    from gateway.pipeline import Transaction


async def relay(tx: Transaction) -> Verdict | None:
    """Send to PowerMTA (or the outbox sink) and answer with its verdict."""
    assert tx.ip is not None
    result = await tx.rt.downstream.send(
        tx.relay_from or tx.mail_from,
        tx.recipients,
        tx.data,
        smtputf8="SMTPUTF8" in tx.mail_options,
    )
    tx.downstream_reply = result.reply
    tx.outcome = result.outcome
    return result.verdict
