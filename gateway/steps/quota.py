"""Warmup quota: reserve at RCPT, settle after DATA, give back what was abandoned.

A message is relayed only on a reservation: every limit of its IP took one
unit atomically before DATA. The first recipient picks the IP (warming IPs
first, then warm ones, most room first); later recipients must fit the same
IP, because PowerMTA's X-Virtual-MTA applies to the whole message.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import TYPE_CHECKING

from gateway import replies
from gateway.replies import Verdict
from policy.counters import CounterUnavailable, Reservation
from policy.providers import OTHER
from policy.quota import selection

if TYPE_CHECKING:
    from gateway.pipeline import Transaction
    from gateway.runtime import Runtime
    from policy.quota.selection import Candidate, Quota

log = logging.getLogger("sluice.quota")

# Releases started from synchronous code (a connection lost), kept until done.
_pending: set[asyncio.Task[None]] = set()


async def warmup_quota(tx: Transaction) -> Verdict | None:
    """Reserve one unit of every limit of the transaction's IP; 451 4.7.1 when none has room."""
    assert tx.session.tenant is not None
    rt = tx.rt
    pool = tx.session.tenant.settings.pool
    ips = rt.settings.pools.get(pool, ())
    zone = tx.session.tenant.zone
    now = rt.clock()
    today = rt.planner.local(now, zone).date()
    states = rt.policy.ips
    throttles = rt.policy.measures
    group = OTHER
    if rt.providers is not None and rt.planner.needs_group(ips, today, states, throttles):
        group = await rt.providers.group(tx.candidate.rpartition("@")[2])
    if tx.ip is None:
        tx.provider = group  # the first recipient's group names the message's
    hours = tx.session.tenant.settings.sending_hours
    candidates = rt.planner.candidates(
        ips, now, group, zone=zone, states=states, sending_hours=hours, throttles=throttles
    )
    if not candidates and (stopped := rt.planner.out_of_rotation(ips, today, states)):
        return replies.no_ip_in_rotation(pool, ", ".join(stopped))
    try:
        if tx.ip is None:
            return await _choose(tx, candidates)
        return await _fit(tx, candidates)
    except CounterUnavailable as exc:
        log.warning("quota store unavailable session=%s: %s", tx.session.id, exc)
        return replies.QUOTA_STORE_UNAVAILABLE


async def _choose(tx: Transaction, candidates: list[Candidate]) -> Verdict | None:
    """First recipient: the first IP, in selection order, that grants a reservation."""
    if not candidates:
        return replies.NO_ROUTE
    rt = tx.rt
    keys = selection.usage_keys(candidates)
    usage = await rt.counters.usage(keys) if keys else {}
    assert tx.session.tenant is not None
    turn = rt.planner.turn(tx.session.tenant.settings.pool)
    refused: list[Quota] = []
    for candidate in selection.order(candidates, usage, turn):
        if not candidate.quotas:
            tx.ip = candidate.ip
            return None
        full = selection.full_quota(candidate, usage)
        if full is not None:
            refused.append(full)
            continue
        result = await rt.counters.reserve(candidate.limits)
        if isinstance(result, Reservation):
            tx.ip = candidate.ip
            tx.reservations.append(result)
            return None
        refused.append(candidate.quota(result.key))
    return _reached(rt, selection.soonest(refused))


async def _fit(tx: Transaction, candidates: list[Candidate]) -> Verdict | None:
    """A later recipient: the transaction's IP must take it too, or it waits (452)."""
    assert tx.ip is not None
    mine = next((c for c in candidates if c.ip == tx.ip), None)
    if mine is None:
        # The IP left rotation (a reload) since the first recipient.
        return replies.RECIPIENT_DOES_NOT_FIT
    if not mine.quotas:
        return None
    result = await tx.rt.counters.reserve(mine.limits)
    if isinstance(result, Reservation):
        tx.reservations.append(result)
        return None
    return replies.RECIPIENT_DOES_NOT_FIT


def _reached(rt: Runtime, quota: Quota | None) -> Verdict:
    if quota is None:
        return replies.QUOTA_REACHED
    return replies.quota_reached(
        quota.kind,
        quota.ip,
        warming=quota.warming,
        group=quota.group,
        frees_at=quota.frees_at,
        zone=str(quota.frees_at.tzinfo),
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
        log.warning("quota settle failed session=%s: %s", tx.session.id, exc)


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
            log.warning("quota release failed session=%s: %s", tx.session.id, exc)


def abandon_soon(tx: Transaction | None) -> None:
    """`abandon` for synchronous callers (connection_lost): runs as a task on the loop."""
    if tx is None or tx.in_data or not tx.reservations:
        return
    task = asyncio.get_running_loop().create_task(abandon(tx))
    _pending.add(task)
    task.add_done_callback(_pending.discard)
