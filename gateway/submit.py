"""The in-process ``Submit`` callable: one Submission through the pipeline, no SMTP.

It runs the ``mail``, ``rcpt``, ``data`` and ``done`` phases on a synthetic
authenticated session (the connect phase is about a client socket there is
none of), so suppression, kill switches, the warmup quota, tracking,
List-Unsubscribe, Feedback-ID, DKIM and the relay (or the fallback spool)
all apply exactly as for MailWizz's mail. The Message-ID the caller set is
kept (``data.message_id`` only adds one when absent): the scenario engine
finds a send again after a crash by it.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gateway import pipeline, replies
from gateway.pipeline import Session, Transaction
from gateway.replies import Verdict
from gateway.runtime import Runtime
from gateway.steps import quota
from policy.submission import Outcome, Submission, Submit

PEER = "127.0.0.1"  # what logs and events show as the client of an in-process send


@dataclass
class _NoListener:
    """Stands for the SMTP listener when none runs: never draining."""

    draining: bool = False


def build(runtime: Callable[[], Runtime], listener: Any = None) -> Submit:
    """The Submit callable over the runtime in force; ``listener`` lends its draining flag."""
    local = listener if listener is not None else _NoListener()

    async def submit(s: Submission) -> Outcome:
        return await _submit(runtime(), local, s)

    return submit


async def _submit(rt: Runtime, listener: Any, s: Submission) -> Outcome:
    tenant = rt.directory.tenants.get(s.tenant)
    if tenant is None:
        return _outcome(replies.AUTH_REQUIRED, "rejected")
    session = Session(
        id=secrets.token_hex(6),
        peer=PEER,
        port=0,
        listener=listener,
        helo="scenarios",
        tenant=tenant,
        username=f"scenarios:{s.tenant}",
    )
    tx = Transaction(session=session, rt=rt, id=session.next_tx(), mail_from=s.sender)
    try:
        verdict = await pipeline.run_phase("mail", tx)
        if verdict is not None:
            return _outcome(verdict, "rejected" if not verdict.temporary else "deferred")
        tx.candidate = s.recipient
        verdict = await pipeline.run_phase("rcpt", tx)
        if verdict is not None:
            return _outcome(verdict, "rejected" if not verdict.temporary else "deferred")
        tx.recipients.append(s.recipient)
        tx.data = _with_job(s, tenant.settings.job_header)
        verdict = await pipeline.run_data(tx)
        if verdict.ok and rt.recorder is not None:
            # The event names the Message-ID the engine looks up after a crash: written
            # now, not at the writer's next round, it narrows the window in which an
            # accepted send is unknown to the store to the write itself.
            await rt.recorder.flush()
        return _outcome(verdict, tx.outcome or _kind(verdict))
    finally:
        await quota.abandon(tx)  # nothing once DATA began: done.settle_quota owns it


def _with_job(s: Submission, header: str) -> bytes:
    """The message, with the job label in the tenant's job header (the pipeline moves it)."""
    if not s.job:
        return s.message
    return f"{header}: {s.job}\r\n".encode() + s.message


def _kind(verdict: Verdict) -> str:
    return "relayed" if verdict.ok else "deferred" if verdict.temporary else "rejected"


def _outcome(verdict: Verdict, kind: str) -> Outcome:
    return Outcome(verdict.code, verdict.enhanced, verdict.text, kind)
