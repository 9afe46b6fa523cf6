"""`sluice rotation [POOL] [skip|trigger]`: each rotating pool's next retirement and the
part each IP plays; skip one or trigger it now (scheduler.rotation, as the admin API
does), each action in the audit log."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from conf import ConfigError, Settings, load
from policy.audit import AuditEntry
from policy.quota.ipstate import initial
from policy.store import Store, open_store
from scheduler import rotation


def add_commands(sub: argparse._SubParsersAction) -> dict[str, Callable[[Any], int]]:
    rp = sub.add_parser("rotation", help="IP rotation: next retirement per pool; skip, trigger")
    rp.add_argument("pool", nargs="?", help="one pool (default: every pool with rotation)")
    rp.add_argument("action", nargs="?", choices=rotation.ACTIONS)
    rp.add_argument("-c", "--config")
    return {"rotation": _rotation}


def _rotation(args: argparse.Namespace) -> int:
    try:
        settings = load(args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    pools = [args.pool] if args.pool else list(settings.warmup.rotation)
    unknown = [p for p in pools if p not in settings.warmup.rotation]
    if unknown or (args.action and not args.pool):
        why = f"pool {unknown[0]!r} has no rotation" if unknown else "name the pool to act on"
        print(f"sluice rotation: {why}", file=sys.stderr)
        return 2
    return asyncio.run(_run(settings, pools, args.action))


async def _run(settings: Settings, pools: list[str], action: str | None) -> int:
    store = open_store(settings.database)
    await store.open()
    try:
        now = datetime.now(UTC)
        if action:
            pool = pools[0]
            before = await store.rotation(pool)
            after = await rotation.act(settings, store, pool, action, now)
            old = json.dumps({"next_at": before.next_at} if before is not None else None)
            new = json.dumps({"next_at": after.next_at, "note": after.note})
            actor = f"cli:{getpass.getuser()}"
            await store.record_audit(AuditEntry(actor, f"rotation.{action}", pool, old, new))
        for pool in pools:
            print(await describe(settings, store, pool, now))
        return 0
    finally:
        await store.close()


async def describe(settings: Settings, store: Store, pool: str, now: datetime) -> str:
    cfg = settings.warmup.rotation[pool]
    saved = await store.rotation(pool)
    states = await store.ip_states()
    due = (
        datetime.fromtimestamp(saved.next_at, UTC).strftime("%Y-%m-%d %H:%M UTC")
        if saved is not None
        else "set at the warmup clock's next tick"
    )
    lines = [
        f"{pool}: every {cfg.every_days} days, next retirement {due}",
        *([f"  {saved.note}"] if saved is not None and saved.note else []),
    ]
    for ip in settings.pools.get(pool, ()):
        record = states.get(ip.ip) or initial(ip, now.date())
        state = record.state.value if record is not None else "not started"
        mark = " (rotation)" if record is not None and record.schedule else ""
        lines.append(f"  {ip.ip:<16} {state}{mark}")
    return "\n".join(lines)
