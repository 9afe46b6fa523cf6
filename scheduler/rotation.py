"""IP rotation, run by the warmup clock: each rotating pool's round, and the operator's
skip and trigger. What to do is ``policy.quota.rotation``; this module reads what
each IP sent, writes the state changes (compare-and-set, as every IP change) and
keeps each pool's next date in the store.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime
from typing import Protocol

from conf import PoolIp, Settings
from policy.quota import calendar, ipstate, rotation
from policy.quota.ipstate import IpRecord
from policy.quota.states import IpEvent, Transition
from policy.store.rotation_store import RotationRecord

log = logging.getLogger("sluice.rotation")
ACTOR = "rotation"
ACTIONS = ("skip", "trigger")


class RotationTickStore(Protocol):
    async def ip_states(self) -> dict[str, IpRecord]: ...
    async def save_ip(
        self, record: IpRecord, change: Transition, expect: IpRecord | None
    ) -> bool: ...
    async def ip_history(self, ip: str, limit: int = 50) -> list[Transition]: ...
    async def day_counts(self, ip: str, start: float, end: float) -> dict[str, int]: ...
    async def rotation(self, pool: str) -> RotationRecord | None: ...
    async def save_rotation(self, record: RotationRecord) -> None: ...


async def tick(settings: Settings, store: RotationTickStore, now: datetime) -> list[Transition]:
    """One round for every pool with rotation configured; the transitions written."""
    written: list[Transition] = []
    for pool in settings.warmup.rotation:
        if pool in settings.pools:
            written += await pool_round(settings, store, pool, now)
    return written


async def pool_round(
    settings: Settings, store: RotationTickStore, pool: str, now: datetime, force: bool = False
) -> list[Transition]:
    cfg = settings.warmup.rotation[pool]
    ips = settings.pools[pool]
    at = now.timestamp()
    saved = await store.rotation(pool)
    next_at = saved.next_at if saved is not None else rotation.first_due(cfg, at)
    records = await _records(settings, store, pool, now)
    sent = await _sent(store, ips, at - cfg.every_days * rotation.DAY, at)
    found = rotation.decide(ips, records, sent, cfg, at if force else next_at, at)
    written = []
    for step in found.steps:
        change = await _apply(settings, store, pool, step, now)
        if change is not None:
            log.info("rotation %s %s %s: %s", pool, step.ip, step.event.value, step.detail)
            written.append(change)
    note = found.note or (saved.note if saved is not None else "")
    if saved is None or found.next_at != saved.next_at or note != saved.note:
        if found.note and (saved is None or found.note != saved.note):
            log.info("rotation %s: %s", pool, found.note)
        await store.save_rotation(RotationRecord(pool, found.next_at, note, at))
    return written


async def _records(
    settings: Settings, store: RotationTickStore, pool: str, now: datetime
) -> dict[str, IpRecord]:
    today = calendar.local_today(calendar.pool_zone(settings, pool), now)
    stored = await store.ip_states()
    out = {}
    for ip in settings.pools[pool]:
        record = stored.get(ip.ip) or ipstate.initial(ip, today)
        if record is not None:
            out[ip.ip] = record
    return out


async def _sent(
    store: RotationTickStore, ips: tuple[PoolIp, ...], start: float, end: float
) -> dict[str, int]:
    out = {}
    for ip in ips:
        counts = await store.day_counts(ip.ip, start, end)
        out[ip.ip] = counts.get("relayed", 0) + counts.get("possible_duplicate", 0)
    return out


async def _apply(
    settings: Settings, store: RotationTickStore, pool: str, step: rotation.Step, now: datetime
) -> Transition | None:
    ip = next(i for i in settings.pools[pool] if i.ip == step.ip)
    today = calendar.local_today(calendar.pool_zone(settings, pool), now)
    rewarm = settings.warmup.rotation[pool].rewarm_schedule

    def decide(record: IpRecord) -> tuple[IpRecord, Transition]:
        new, change = ipstate.command(
            record, step.event, actor=ACTOR, at=now, today=today, detail=step.detail
        )
        if step.event is IpEvent.RETIRE:
            new = replace(new, schedule=rewarm)
        return new, change

    try:
        return await ipstate.change(store, ip, today, decide)
    except (ipstate.IpStateError, ValueError) as exc:  # another writer moved it meanwhile
        log.warning("rotation %s %s %s not applied: %s", pool, step.ip, step.event.value, exc)
        return None


async def act(
    settings: Settings, store: RotationTickStore, pool: str, action: str, now: datetime
) -> RotationRecord:
    """``skip``: the next retirement moves one period later. ``trigger``: it happens now
    (still bounded by min_warm_share). LookupError for a pool without rotation."""
    if pool not in settings.warmup.rotation or pool not in settings.pools:
        raise LookupError(f"pool {pool!r} has no rotation configured (warmup.rotation)")
    cfg = settings.warmup.rotation[pool]
    at = now.timestamp()
    saved = await store.rotation(pool)
    next_at = saved.next_at if saved is not None else rotation.first_due(cfg, at)
    if action == "skip":
        later = max(next_at, at) + cfg.every_days * rotation.DAY
        note = f"skipped by operator: next on {datetime.fromtimestamp(later).date()}"
        await store.save_rotation(RotationRecord(pool, later, note, at))
    elif action == "trigger":
        await pool_round(settings, store, pool, now, force=True)
    else:
        raise ValueError(f"unknown rotation action {action!r} (known: {', '.join(ACTIONS)})")
    found = await store.rotation(pool)
    assert found is not None
    return found
