"""Kill switches and the freshness of the policy they come from."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from gateway import replies
from gateway.replies import Verdict

if TYPE_CHECKING:
    from gateway.pipeline import Transaction

log = logging.getLogger("sluice.policy")


async def policy_current(tx: Transaction) -> Verdict | None:
    """451 4.3.0 once the cached policy is older than policy.max_stale (store unreachable)."""
    view = tx.rt.policy
    if view.age() > tx.rt.settings.policy.max_stale:
        log.warning("policy is %.0fs old (%s): deferring", view.age(), view.error or "no refresh")
        return replies.POLICY_STALE
    return None


async def kill_switch(tx: Transaction) -> Verdict | None:
    """451 4.7.0 naming the global or tenant pause switch in force."""
    assert tx.session.tenant is not None
    switch = tx.rt.policy.switch("pause", tx.session.tenant.name)
    return replies.paused(switch.describe()) if switch is not None else None
