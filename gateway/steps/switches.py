"""Kill switches and the freshness of the policy they come from."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway import replies
from gateway.replies import Verdict

if TYPE_CHECKING:
    from gateway.pipeline import Transaction


async def policy_current(tx: Transaction) -> Verdict | None:
    """451 4.3.0 once the cached policy is older than policy.max_stale (store unreachable)."""
    # Not logged here: the refresh task logs the outage once, /readyz reports it.
    return replies.POLICY_STALE if tx.rt.policy.age() > tx.rt.settings.policy.max_stale else None


async def kill_switch(tx: Transaction) -> Verdict | None:
    """451 4.7.0 naming the global or tenant pause switch in force."""
    assert tx.session.tenant is not None
    switch = tx.rt.policy.switch("pause", tx.session.tenant.name)
    return replies.paused(switch.describe()) if switch is not None else None
