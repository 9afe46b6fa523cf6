"""The story of one SMTP transaction, as one ordered tuple of named steps.

Reading ``PIPELINE`` top to bottom tells everything that happens to a
message, in order. A step is a small async function of the transaction that
returns None to continue or a Verdict to answer; the first verdict of a
phase wins. A step that raises or times out answers ``451 4.3.0``, never a
5xx: the sender keeps the message and tries again. ``done.*`` steps run
after every transaction that reached DATA, whatever its verdict, and cannot
change it. ``sluice show-pipeline`` prints this list and a test pins it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gateway import metrics, replies
from gateway.replies import Verdict
from gateway.steps import (
    access,
    feedback_id,
    hygiene,
    list_unsubscribe,
    quota,
    record,
    relay,
    routing,
    sender,
    sign,
    stamp,
    suppression,
    switches,
    track,
    verp,
)

if TYPE_CHECKING:
    from conf import PoolIp
    from gateway.message import Message
    from gateway.runtime import Runtime
    from policy.counters import Reservation
    from policy.tenants import Tenant

log = logging.getLogger("sluice.pipeline")


@dataclass
class Session:
    """One client connection."""

    id: str
    peer: str
    port: int
    listener: Any  # gateway.smtp.Listener: connection counts, draining flag
    tls: bool = False
    helo: str = ""
    tenant: Tenant | None = None
    username: str | None = None
    gone: bool = False  # the client hung up or was cut off: nobody hears our answer
    transactions: int = 0  # MAIL commands so far: numbers each transaction's id

    def next_tx(self) -> str:
        """A new transaction's id: the connection's, then its number on it (``ab12cd.2``)."""
        self.transactions += 1
        return f"{self.id}.{self.transactions}"


@dataclass
class Transaction:
    """One MAIL..DATA exchange (or, in the connect phase, the connection itself)."""

    session: Session
    rt: Runtime
    id: str = ""  # in logs (tx=) and events; the connection's id in the connect phase
    mail_from: str = ""
    relay_from: str = ""  # the envelope sender downstream (VERP) when not mail_from
    mail_options: list[str] = field(default_factory=list)
    recipients: list[str] = field(default_factory=list)
    candidate: str = ""  # the RCPT address being decided
    refusals: list[Verdict] = field(default_factory=list)  # RCPT replies, for a pipelined DATA
    ip: PoolIp | None = None  # chosen at the first RCPT; every recipient rides it
    provider: str = ""  # the first recipient's provider group, for the event
    dry_run: bool = False  # diverted to the outbox by a dry-run switch
    # Quota taken for each accepted recipient, until done.settle_quota or abandon.
    reservations: list[Reservation] = field(default_factory=list)
    in_data: bool = False  # from here the done steps, not abandon, settle the quota
    data: bytes = b""
    message: Message | None = None
    from_domain: str = ""  # the header From's domain, checked once and used to sign
    message_id: str = ""
    job: str = ""
    verdict: Verdict | None = None
    downstream_reply: str = ""
    outcome: str = ""  # relayed | deferred | rejected | possible_duplicate
    started: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        if not self.id:
            self.id = self.session.id


StepFn = Callable[[Transaction], Awaitable[Verdict | None]]


@dataclass(frozen=True)
class Step:
    name: str  # "<phase>.<rule>": the label of its logs and metrics
    run: StepFn
    timeout: float | None = None  # only steps that wait on I/O need one

    @property
    def phase(self) -> str:
        return self.name.split(".", 1)[0]


PIPELINE: tuple[Step, ...] = (
    # A client connects.
    Step("connect.draining", access.connect_draining),
    Step("connect.limits", access.connect_limits),
    Step("connect.trusted_network", access.connect_trusted_network),
    # MAIL FROM: who sends, and from which domain.
    Step("mail.draining", access.mail_draining),
    Step("mail.authenticated", access.require_tenant),
    Step("mail.policy_current", switches.policy_current),
    Step("mail.kill_switch", switches.kill_switch),
    Step("mail.address", routing.sender_address),
    Step("mail.sender_domain", sender.envelope_sender_domain),
    # RCPT TO: to whom, and on which IP of the tenant's pool.
    Step("rcpt.authenticated", access.require_tenant),
    Step("rcpt.address", routing.recipient_address),
    Step("rcpt.recipient_limit", routing.recipient_limit),
    Step("rcpt.suppression", suppression.not_suppressed),
    Step("rcpt.warmup_quota", quota.warmup_quota, timeout=2.0),
    # DATA: the message, made ready for PowerMTA; DKIM signs last.
    Step("data.line_endings", hygiene.line_endings),
    Step("data.parse_headers", hygiene.parse_headers),
    Step("data.from_domain", sender.header_from_domain),
    Step("data.strip_internal", hygiene.strip_internal_headers),
    Step("data.message_id", stamp.message_id_and_date),
    Step("data.virtual_mta", stamp.virtual_mta_and_job),
    Step("data.received", stamp.received),
    Step("data.verp_sender", verp.verp_sender),
    Step("data.tracking", track.tracking),
    Step("data.list_unsubscribe", list_unsubscribe.list_unsubscribe),
    Step("data.feedback_id", feedback_id.feedback_id),
    Step("data.dkim_sign", sign.dkim_sign),
    Step("data.relay", relay.relay),
    # After the verdict: account for what happened.
    Step("done.settle_quota", quota.settle_quota, timeout=2.0),
    Step("done.record", record.record),
)

PHASES: dict[str, tuple[Step, ...]] = {}
for _step in PIPELINE:
    PHASES.setdefault(_step.phase, ())
    PHASES[_step.phase] += (_step,)


async def run_phase(phase: str, tx: Transaction) -> Verdict | None:
    """Run the steps of ``phase`` in order; the first verdict wins."""
    for step in PHASES.get(phase, ()):
        verdict = await run_step(step, tx)
        if verdict is not None:
            metrics.STEP_VERDICTS.labels(step.name, str(verdict.code)).inc()
            metrics.count_refusal(tx, step.name, verdict)
            if phase != "data":  # a DATA verdict is the done.record step's to tell
                record.refusal(tx, step.name, verdict)
            return verdict
    return None


async def run_step(step: Step, tx: Transaction) -> Verdict | None:
    try:
        if step.timeout is None:
            return await step.run(tx)
        async with asyncio.timeout(step.timeout):
            return await step.run(tx)
    except TimeoutError:
        log.warning("step %s timed out tx=%s", step.name, tx.id)
        return replies.STEP_TIMEOUT
    except Exception:
        log.exception("step %s failed tx=%s", step.name, tx.id)
        return replies.INTERNAL_ERROR


async def run_data(tx: Transaction) -> Verdict:
    """The DATA phase, then the ``done`` steps whatever the verdict."""
    tx.in_data = True
    try:
        tx.verdict = await run_phase("data", tx) or replies.INTERNAL_ERROR
    finally:
        if tx.verdict is None:  # cancelled: nothing can have been answered upstream
            tx.verdict = replies.INTERNAL_ERROR
        for step in PHASES["done"]:
            await run_step(step, tx)
    return tx.verdict


def describe() -> str:
    """The pipeline as ``sluice show-pipeline`` prints it."""
    lines = []
    for i, step in enumerate(PIPELINE, 1):
        doc = (step.run.__doc__ or "").strip().splitlines()[0] if step.run.__doc__ else ""
        lines.append(f"{i:2}. {step.name:<28} {doc}")
    return "\n".join(lines)
