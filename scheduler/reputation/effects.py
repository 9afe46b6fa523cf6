"""Applying confirmed changes: quarantine or restore an IP through its state machine, alert.

The decisions are policy.reputation.effects; this module reads the IP's
record and latest transition, and writes the result with the state store's
compare-and-set (policy.quota.ipstate.change).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from conf import Settings
from conf.schema.reputation import DnsList
from policy.quota import ipstate
from policy.reputation import effects as decide
from policy.reputation.confirm import Change, HistoryEntry, Standing
from policy.store.protocols import IpStateStore, ReputationStore

log = logging.getLogger("sluice.reputation")


class ReputationStores(ReputationStore, IpStateStore, Protocol):
    """What a cycle touches: the standings and the IP states."""


class _Unchanged(Exception):
    pass


async def apply(
    settings: Settings,
    store: ReputationStores,
    changes: list[tuple[Standing, DnsList, Change]],
    standings: list[Standing],
    now: float,
) -> list[HistoryEntry]:
    """Act on each confirmed change; the history entries of what was done."""
    done: list[HistoryEntry] = []
    for standing, dnslist, change in changes:
        what = f"{standing.target} {change.value} on {dnslist.zone} ({standing.answer or 'none'})"
        log.warning("reputation: %s", what)
        if standing.kind != "ip" or dnslist.action != "quarantine":
            continue
        try:
            if change is Change.LISTED:
                event = await _quarantine(settings, store, standing, now)
            elif _still_listed(standing.target, standings, settings):
                continue
            else:
                event = await _restore(settings, store, standing, now)
        except (_Unchanged, ipstate.IpStateError) as exc:
            log.info("reputation: %s: IP state left as it is (%s)", what, exc or "not ours")
            continue
        done.append(HistoryEntry(standing.target, dnslist.zone, event, standing.answer, now))
    return done


def _still_listed(ip: str, standings: list[Standing], settings: Settings) -> bool:
    cfg = settings.reputation
    assert cfg is not None
    quarantining = {dl.zone for dl in cfg.lists if dl.action == "quarantine"}
    return any(s.target == ip and s.listed and s.zone in quarantining for s in standings)


def _when(settings: Settings, now: float):
    at = datetime.fromtimestamp(now, UTC)
    return at, at.astimezone(ZoneInfo(settings.warmup.timezone)).date()


def _pool_ip(settings: Settings, ip: str):
    found = next((p for pool in settings.pools.values() for p in pool if p.ip == ip), None)
    if found is None:
        raise ipstate.IpStateError(f"{ip} is not in any pool")
    return found


async def _quarantine(
    settings: Settings, store: ReputationStores, standing: Standing, now: float
) -> str:
    at, today = _when(settings, now)

    def quarantined(record: ipstate.IpRecord):
        out = decide.quarantine(record, standing.zone, standing.answer, at=at, today=today)
        if out is None:
            raise _Unchanged("already quarantined")
        return out

    await ipstate.change(store, _pool_ip(settings, standing.target), today, quarantined)
    return "quarantined"


async def _restore(
    settings: Settings, store: ReputationStores, standing: Standing, now: float
) -> str:
    at, today = _when(settings, now)
    history = await store.ip_history(standing.target, 1)
    last = history[0] if history else None

    def restored(record: ipstate.IpRecord):
        out = decide.restore(record, last, standing.zone, at=at)
        if out is None:
            raise _Unchanged()
        return out

    await ipstate.change(store, _pool_ip(settings, standing.target), today, restored)
    return "restored"
