"""Warmup quota: reserve at RCPT, settle after DATA, give back what was abandoned.

A message is relayed only on a reservation: every limit of its IP took one
unit atomically before DATA. Which IP, and whether it has room, is
``policy.quota.reserve``'s decision; this step turns it into a reply.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import TYPE_CHECKING

from gateway import replies
from gateway.replies import Verdict
from policy.counters import CounterUnavailable
from policy.quota.reserve import Ask, Granted, Refused, reserve

if TYPE_CHECKING:
    from gateway.pipeline import Transaction
    from policy.quota.selection import Quota

log = logging.getLogger("sluice.quota")

# Releases started from synchronous code (a connection lost), kept until done.
_pending: set[asyncio.Task[None]] = set()


async def warmup_quota(tx: Transaction) -> Verdict | None:
    """Reserve one unit of every limit of the transaction's IP; 451 4.7.1 when none has room."""
    assert tx.session.tenant is not None
    rt = tx.rt
    tenant = tx.session.tenant
    pool = tenant.settings.pool
    ask = Ask(
        pool=pool,
        ips=rt.settings.pools.get(pool, ()),
        domain=tx.candidate.rpartition("@")[2],
        now=rt.clock(),
        zone=tenant.zone,
        sending_hours=tenant.settings.sending_hours,
        states=rt.policy.ips,
        throttles=rt.policy.measures,
        ip=tx.ip,
    )
    decision = await reserve(rt.planner, rt.counters, rt.providers, ask)
    if tx.ip is None:
        tx.provider = decision.group  # the first recipient's group names the message's
    outcome = decision.outcome
    if isinstance(outcome, Granted):
        tx.ip = outcome.ip
        if outcome.reservation is not None:
            tx.reservations.append(outcome.reservation)
        return None
    return _reply(tx, pool, outcome)


def _reply(tx: Transaction, pool: str, refused: Refused) -> Verdict:
    match refused.why:
        case "out_of_rotation":
            return replies.no_ip_in_rotation(pool, ", ".join(refused.stopped))
        case "no_route":
            return replies.NO_ROUTE
        case "does_not_fit":
            return replies.RECIPIENT_DOES_NOT_FIT
        case "unavailable":
            log.warning("quota store unavailable tx=%s: %s", tx.id, refused.error)
            return replies.QUOTA_STORE_UNAVAILABLE
    return _reached(refused.quota, refused.used)


def _reached(quota: Quota | None, used: int) -> Verdict:
    if quota is None:
        return replies.QUOTA_REACHED
    return replies.quota_reached(
        quota.kind,
        quota.ip,
        warming=quota.warming,
        group=quota.group,
        used=used,
        limit=quota.limit.limit,
        frees_at=quota.frees_at,
    )


async def settle_quota(tx: Transaction) -> Verdict | None:
    """Keep the units of a relayed message (or one that may have been); give back the rest."""
    # A dry run went to the outbox, not to an IP: its units go back.
    sent = tx.verdict is not None and tx.verdict.ok and not tx.dry_run
    keep = sent or tx.outcome == "possible_duplicate"
    reservations, tx.reservations = tx.reservations, []
    if keep:
        await _settle(tx, tx.rt.counters.commit(*reservations))
    else:
        for reservation in reservations:
            await _settle(tx, tx.rt.counters.release(reservation))
    return None


async def _settle(tx: Transaction, call: Awaitable[None]) -> None:
    try:
        await call
    except CounterUnavailable as exc:
        # Units not given back expire with their window: never more sent than allowed.
        log.warning("quota settle failed tx=%s: %s", tx.id, exc)


async def abandon(tx: Transaction | None) -> None:
    """Give back the reservations of a transaction that ended before DATA.

    Safe to call more than once and on any transaction: once DATA has begun,
    done.settle_quota owns the reservations and this does nothing.
    """
    if tx is None or tx.in_data or not tx.reservations:
        return
    reservations, tx.reservations = tx.reservations, []
    for reservation in reservations:
        try:
            await tx.rt.counters.release(reservation)
        except CounterUnavailable as exc:
            log.warning("quota release failed tx=%s: %s", tx.id, exc)


def abandon_soon(tx: Transaction | None) -> None:
    """`abandon` for synchronous callers (connection_lost): runs as a task on the loop."""
    if tx is None or tx.in_data or not tx.reservations:
        return
    task = asyncio.get_running_loop().create_task(abandon(tx))
    _pending.add(task)
    task.add_done_callback(_pending.discard)
