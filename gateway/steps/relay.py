"""Hand the message on: 250 upstream only after the next hop said 250, or the spool fsynced it.

While PowerMTA answers, its verdict is the answer. When it defers (a 4xx,
a timeout or a lost connection before DATA, the breaker open, no
connection), MailWizz would give the subscriber up, so the message is
written to the fallback spool (``gateway.spool``) and answered
``250 queued as <id>``; ``scheduler.spool_delivery`` relays it on the same
IP and VMTA later. After the final dot an unknown outcome stays
``possible_duplicate``: PowerMTA may have it, so it is never spooled. Nor
is a message whose sender hung up (or was cut off) before it went out: the
sender heard no 250 and will send it again. For the same reason a message
PowerMTA took after its sender had gone is ``possible_duplicate``, not
``relayed``: the copy the sender sends again is the second one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from gateway import replies
from gateway.downstream import Result
from gateway.replies import Verdict
from gateway.spool import Entry, Spool, SpoolFull, new_id

if TYPE_CHECKING:
    from gateway.pipeline import Transaction

log = logging.getLogger("sluice.spool")


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
        alive=lambda: not tx.session.gone,
    )
    tx.downstream_reply = result.reply
    tx.outcome = result.outcome
    if result.outcome == "relayed" and tx.session.gone:
        # PowerMTA has it, but the sender left before our 250: it will send it again.
        tx.outcome = "possible_duplicate"
        log.warning("tx=%s relayed after the client left: it heard no 250", tx.id)
    # A sender that is gone heard no 250 and will retry: a spooled copy would be a second one.
    kept = not tx.dry_run and not tx.session.gone
    if tx.rt.spool is not None and kept and result.outcome == "deferred":
        return await keep(tx, tx.rt.spool, result)
    return result.verdict


async def keep(tx: Transaction, spool: Spool, result: Result) -> Verdict:
    """Write the message to the spool; 250 once it is on disk, else a 4xx."""
    assert tx.ip is not None and tx.session.tenant is not None
    entry = Entry(
        id=new_id(),
        at=time.time(),
        mail_from=tx.relay_from or tx.mail_from,
        recipients=tuple(tx.recipients),
        tenant=tx.session.tenant.name,
        ip=tx.ip.ip,
        vmta=tx.ip.vmta,
        message_id=tx.message_id,
        job=tx.job,
        smtputf8="SMTPUTF8" in tx.mail_options,
        size=len(tx.data),
    )
    try:
        await asyncio.to_thread(spool.put, entry, tx.data)
    except SpoolFull as exc:
        log.warning("tx=%s not spooled: %s (downstream: %s)", tx.id, exc, result.reply)
        return replies.SPOOL_FULL
    except OSError as exc:
        log.error("tx=%s spool write failed: %s", tx.id, exc)
        return result.verdict
    tx.outcome = "spooled"
    return replies.spooled(entry.id)
