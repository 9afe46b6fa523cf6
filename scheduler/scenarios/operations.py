"""One ledger operation: a send through the pipeline, or the decision after a send.

A send is marked ``sending`` (committed) before the pipeline is called; its
Message-ID derives from the idempotency key. Its end (the enrollment's new
position and the next operation) is written in one transaction with the
operation's move to the archive. A ``sending`` row whose process died is
resolved from the relay's record of its Message-ID, never resent blind.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from policy.scenarios import branch, ledger
from policy.scenarios.branch import Seen
from policy.scenarios.definition import POSITIVE, Scenario, Step
from policy.scenarios.ledger import DECIDE, SEND, Enrollment, Op, Plan
from policy.store.scenario_store import Completion, Mark, Release
from policy.submission import Outcome, Submission
from scheduler.scenarios import crash, metrics
from scheduler.scenarios.facts import Facts
from scheduler.scenarios.gates import Gates, earliest, variant_of
from scheduler.scenarios.render import RenderFailed, compose

if TYPE_CHECKING:
    from scheduler.scenarios.engine import Engine

__all__ = ["Gates", "resolve_orphan", "run"]
ACCEPTED = ("relayed", "spooled", "possible_duplicate")


async def run(engine: Engine, op: Op, facts: Facts | None = None) -> None:
    """``facts``: the batch's reads (scheduler/scenarios/facts.py); without, its own."""
    d = await engine.definitions.get(op.tenant, op.scenario, op.version)
    if facts is not None and op.enrollment in facts.enrollments:
        e: Enrollment | None = facts.enrollments[op.enrollment]
    else:
        e = await engine.store.enrollment(op.enrollment)
    if e is None or e.status != "active":
        await _complete(engine, Completion(op, engine.name, "cancelled", "enrollment ended"))
        return
    if facts is not None and (op.tenant, op.email) in facts.stops:
        rule = facts.stop_reason(op.tenant, op.email, e.created)
    else:
        rule = await engine.store.stop_reason(op.tenant, op.email, e.created)
    if rule is not None and rule in d.stop_on:
        reason = f"stop rule: {rule}"
        await _complete(
            engine, Completion(op, engine.name, "cancelled", reason, end=("stopped", rule))
        )
        engine.event(ledger.STOPPED, op, reason)
        return
    if op.kind == DECIDE:
        await decide(engine, op, d, e)
    else:
        await send(engine, op, d, e, facts)


async def _complete(engine: Engine, c: Completion) -> bool:
    return await engine.writes.completions(c)


async def _release(engine: Engine, op: Op, due: float, reason: str = "") -> None:
    """Back to pending until ``due`` (a window, cooldown, cap or pacing wait; not a deferral)."""
    await engine.writes.releases(Release(op.id, "pending", due, reason or op.reason))


async def decide(engine: Engine, op: Op, d: Scenario, e: Enrollment) -> None:
    now = engine.clock()
    parent = op.step.removeprefix("decide:")
    children = d.children(parent)
    rows = await engine.store.message_engagement(op.tenant, e.message_id, op.email)
    choice = branch.decide(children, e.sent_at, now, [Seen(*r) for r in rows])
    if choice is None:
        wake = min(branch.deadline(children, e.sent_at), now + engine.config.decide_poll)
        await _release(engine, op, wake)
        return
    if choice.step is None:
        end = ("completed", choice.reason)
        await _complete(engine, Completion(op, engine.name, "executed", choice.reason, end=end))
    else:
        plan = Plan(
            op.tenant, op.scenario, op.version, op.enrollment, op.email, choice.step, SEND,
            max(choice.due, now),
        )  # fmt: skip
        await _complete(
            engine, Completion(op, engine.name, "executed", choice.reason, plans=[plan])
        )
    engine.event(ledger.DECISION, op, choice.reason, detail=json.dumps({"next": choice.step}))


async def send(engine: Engine, op: Op, d: Scenario, e: Enrollment, facts: Facts | None) -> None:
    if facts is not None and (op.tenant, op.email) in facts.recipients:
        who = facts.recipients[(op.tenant, op.email)]
    else:
        who = await engine.catalog.recipient(op.tenant, op.email)
    if who is None or who.status != "active":
        why = "not a contact" if who is None else who.status
        await _complete(engine, Completion(op, engine.name, "cancelled", why, end=("stopped", why)))
        return
    async with engine.gates.hold(op, d):
        due = await earliest(engine, op, d, who)
        if due > engine.clock():
            await _release(engine, op, due)
            return
        step = d.step(op.step)
        variant = await variant_of(engine, op, step)
        try:
            mid, data = await compose(engine, op, d, who, step.choices[variant].template)
        except RenderFailed as exc:
            reason = f"template {step.choices[variant].template}: {exc}"
            await _complete(
                engine, Completion(op, engine.name, "failed", reason, end=("failed", reason))
            )
            engine.event(ledger.FAILED, op, reason)
            return
        # A slot first, then ``sending``: a row waiting for a slot is still ``claimed``,
        # so a crash leaves in doubt only the sends that were really under way.
        async with engine.sending:
            if not await engine.writes.marks(Mark(op.id, mid, variant)):
                return  # the claim was lost (lease past): another process has it
            job = f"scenario:{op.scenario}"
            outcome = await engine.submit(Submission(op.tenant, d.sender, op.email, data, mid, job))
        if outcome.ok:
            crash.point("after_250")
        await settle(engine, op, d, e, step, variant, mid, outcome)


async def settle(
    engine: Engine, op: Op, d: Scenario, e: Enrollment, step: Step, variant: int, mid: str,
    outcome: Outcome,
) -> None:  # fmt: skip
    now = engine.clock()
    label = (op.tenant, op.scenario, op.step)
    if outcome.ok or outcome.outcome in ACCEPTED:
        variants = {**json.loads(e.variants or "{}"), op.step: variant}
        sent = (op.step, now, mid, json.dumps(variants, sort_keys=True))
        crash.point("before_commit")
        await _complete(engine, _after_send(engine, op, d, step, sent, str(outcome), now))
        metrics.count(*label, "sent")
        engine.event(ledger.SENT, op, str(outcome), f"<{mid}>")
    elif outcome.temporary and op.attempts + 1 < engine.config.max_attempts:
        backoff = min(engine.config.retry_base * 2**op.attempts, engine.config.retry_max)
        who = await engine.catalog.recipient(op.tenant, op.email)
        due = await earliest(engine, op, d, who, at=now + backoff)
        await engine.writes.releases(Release(op.id, "deferred", due, str(outcome)))
        metrics.count(*label, "deferred")
        engine.event(ledger.DEFERRED, op, str(outcome), f"<{mid}>")
    else:
        reason = str(outcome)
        await _complete(
            engine, Completion(op, engine.name, "failed", reason, end=("failed", reason))
        )
        metrics.count(*label, "failed")
        engine.event(ledger.FAILED, op, reason, f"<{mid}>")


def _after_send(
    engine: Engine, op: Op, d: Scenario, step: Step, sent: tuple[str, float, str, str],
    reply: str, now: float,
) -> Completion:  # fmt: skip
    children = d.children(step.id)
    if not children:
        return Completion(
            op, engine.name, "executed", reply, sent=sent, end=("completed", "last step")
        )
    deadline = branch.deadline(children, now)
    positive = any(c.trigger in POSITIVE for c in children)
    due = min(deadline, now + engine.config.decide_poll) if positive else deadline
    plan = Plan(
        op.tenant, op.scenario, op.version, op.enrollment, op.email,
        ledger.decide_step(step.id), DECIDE, due,
    )  # fmt: skip
    return Completion(op, engine.name, "executed", reply, sent=sent, plans=[plan])


async def resolve_orphan(engine: Engine, op: Op) -> None:
    """A ``sending`` row whose process died: what the relay recorded decides, not a resend."""
    kind = await engine.store.relayed_kind(op.tenant, op.message_id) if op.message_id else None
    d = await engine.definitions.get(op.tenant, op.scenario, op.version)
    e = await engine.store.enrollment(op.enrollment)
    if kind in ACCEPTED and e is not None:
        step = d.step(op.step)
        outcome = Outcome(
            250, "2.0.0", f"{kind} before a restart (found in the relay's events)", kind
        )
        await settle(engine, op, d, e, step, max(op.variant, 0), op.message_id, outcome)
        return
    if kind == "deferred":
        due = engine.clock() + engine.config.retry_base
        await engine.writes.releases(Release(op.id, "deferred", due, "deferred before a restart"))
        return
    reason = (
        f"{kind} before a restart" if kind else
        f"outcome unknown after a restart (no relay record of <{op.message_id}>): not resent"
    )  # fmt: skip
    await _complete(engine, Completion(op, engine.name, "failed", reason, end=("failed", reason)))
    engine.event(ledger.FAILED, op, reason, f"<{op.message_id}>")
