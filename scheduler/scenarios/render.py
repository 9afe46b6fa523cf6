"""A step's message: its Message-ID from the idempotency key, the rendered template, MIME."""

from __future__ import annotations

from typing import TYPE_CHECKING

from policy.scenarios import ledger
from policy.scenarios.definition import Scenario
from policy.scenarios.ledger import Op
from scheduler.scenarios import message
from scheduler.scenarios.catalog import Recipient, RenderError

if TYPE_CHECKING:
    from scheduler.scenarios.engine import Engine


class RenderFailed(ValueError):
    """The operation fails with this reason: a broken message is never sent."""


async def compose(
    engine: Engine, op: Op, d: Scenario, who: Recipient, template: str
) -> tuple[str, bytes]:
    tenant = next((t for t in engine.settings().tenants if t.name == op.tenant), None)
    if tenant is None:
        raise RenderFailed(f"tenant {op.tenant!r} is not configured")
    mid = ledger.message_id(op.key, d.sender.rpartition("@")[2].lower())
    job = f"scenario:{op.scenario}"
    extra = {
        "unsubscribe_url": message.unsubscribe_url(tenant, job, mid, op.email),
        "scenario": op.scenario,
        "step": op.step,
    }
    try:
        content = await engine.catalog.render(op.tenant, template, who, extra)
    except RenderError as exc:
        raise RenderFailed(str(exc)) from exc
    data = message.build(
        sender=d.from_,
        reply_to=message.reply_to(tenant, engine.settings().replies.enabled, d, mid),
        recipient=op.email,
        message_id=mid,
        content=content,
        at=engine.clock(),
    )
    return mid, data
