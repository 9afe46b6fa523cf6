"""Hand the message on: 250 upstream only after the next hop said 250."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.replies import Verdict

if TYPE_CHECKING:
    from gateway.pipeline import Transaction


async def relay(tx: Transaction) -> Verdict | None:
    """Send to PowerMTA (or the outbox: the sink, or a dry-run switch) and answer its verdict."""
    assert tx.ip is not None and tx.session.tenant is not None
    downstream = tx.rt.downstream
    if tx.rt.policy.switch("dry_run", tx.session.tenant.name) is not None:
        tx.dry_run = True
        downstream = tx.rt.dry_run_outbox
    result = await downstream.send(
        tx.relay_from or tx.mail_from,
        tx.recipients,
        tx.data,
        smtputf8="SMTPUTF8" in tx.mail_options,
    )
    tx.downstream_reply = result.reply
    tx.outcome = result.outcome
    return result.verdict
