"""One log line, one event and the metrics of every transaction that reached DATA.

A command refused before DATA (``refusal``) gets a log line too, and each
refused recipient an event of kind ``refused`` naming the step. The line is
at INFO, one per refused command, not rate-limited: a quota storm writes as
many lines as the relay writes for the mail it passes, and a sampled log
would lose the one refusal an operator is looking for.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from gateway import metrics
from gateway.replies import Verdict
from policy.events import Event

if TYPE_CHECKING:
    from gateway.pipeline import Transaction

log = logging.getLogger("sluice.transaction")


async def record(tx: Transaction) -> Verdict | None:
    """Log the transaction, count it, and queue its event for the store."""
    assert tx.verdict is not None
    ms = (time.monotonic() - tx.started) * 1000
    tenant = tx.session.tenant.name if tx.session.tenant else "-"
    outcome = tx.outcome or (
        "relayed" if tx.verdict.ok else "deferred" if tx.verdict.temporary else "rejected"
    )
    vmta = tx.ip.vmta if tx.ip else "-"
    log.info(
        "tx=%s outcome=%s%s tenant=%s client=%s ip=%s vmta=%s msgid=%s from=<%s> rcpts=%d"
        " to=<%s> size=%d reply=%r downstream=%r ms=%.1f",
        tx.id,
        outcome,
        " dry_run=1" if tx.dry_run else "",
        tenant,
        tx.session.peer,
        tx.ip.ip if tx.ip else "-",
        vmta,
        tx.message_id or "-",
        tx.mail_from,
        len(tx.recipients),
        ",".join(tx.recipients[:5]),
        len(tx.data),
        str(tx.verdict),
        tx.downstream_reply,
        ms,
    )
    metrics.TRANSACTIONS.labels(tenant, outcome).inc()
    pool = tx.session.tenant.settings.pool if tx.session.tenant else "-"
    metrics.count_message(tenant, pool, tx.ip.ip if tx.ip else "-", outcome)
    metrics.RELAY_SECONDS.observe(ms / 1000)
    if tx.rt.recorder is not None:
        tx.rt.recorder.add(
            Event(
                kind=outcome,
                tenant=tenant,
                client=tx.session.peer,
                mail_from=tx.mail_from,
                recipients=tuple(tx.recipients),
                message_id=tx.message_id,
                ip=tx.ip.ip if tx.ip else "",
                vmta=tx.ip.vmta if tx.ip else "",
                job=tx.job,
                size=len(tx.data),
                reply=str(tx.verdict),
                downstream_reply=tx.downstream_reply,
                ms=round(ms, 1),
                provider=tx.provider,
                dry_run=tx.dry_run,
                tx=tx.id,
            )
        )
    return None


def refusal(tx: Transaction, step: str, verdict: Verdict) -> None:
    """Log a command refused before DATA; record the refused recipient as an event."""
    phase = step.partition(".")[0]
    tenant = tx.session.tenant.name if tx.session.tenant else "-"
    recipient = tx.candidate if phase == "rcpt" else ""
    log.info(
        "tx=%s refused step=%s code=%d tenant=%s client=%s from=<%s> to=<%s> reply=%r",
        tx.id,
        step,
        verdict.code,
        tenant,
        tx.session.peer,
        tx.mail_from,
        recipient,
        str(verdict),
    )
    if recipient and tx.rt.recorder is not None:
        tx.rt.recorder.add(
            Event(
                kind="refused",
                tenant=tenant,
                client=tx.session.peer,
                mail_from=tx.mail_from,
                recipients=(recipient,),
                ip=tx.ip.ip if tx.ip else "",
                vmta=tx.ip.vmta if tx.ip else "",
                reply=str(verdict),
                provider=tx.provider,
                tx=tx.id,
                step=step,
            )
        )
