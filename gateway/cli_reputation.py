"""`sluice reputation check [--ip IP]`: one DNS blocklist polling cycle now, printed.

It is the daemon's cycle (scheduler.reputation.cycle) against the same store,
so a confirmed listing quarantines and a confirmed delisting restores just as
the daemon's task would, and the run counts toward confirmation.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from conf import ConfigError, Settings, load
from policy.store import open_store
from scheduler.alerts import Alerter
from scheduler.reputation.cycle import CycleReport, run_cycle


def add_commands(sub: argparse._SubParsersAction) -> dict[str, Callable[[Any], int]]:
    rp = sub.add_parser("reputation", help="DNS blocklists: run one polling cycle now")
    rp.add_argument("action", choices=["check"])
    rp.add_argument("--ip", help="check only this IP (it need not be in a pool)")
    rp.add_argument("--json", action="store_true", help="print the report as JSON")
    rp.add_argument("-c", "--config")
    return {"reputation": _reputation}


def _reputation(args: argparse.Namespace) -> int:
    try:
        settings = load(args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    if settings.reputation is None:
        print("no reputation: section in the configuration", file=sys.stderr)
        return 2
    report = asyncio.run(_check(settings, args.ip))
    print(json.dumps(_as_json(report), indent=2) if args.json else render(report))
    return 1 if any(s.listed for s in report.standings) else 0


async def _check(settings: Settings, ip: str | None) -> CycleReport:
    store = open_store(settings.database)
    await store.open()
    try:
        return await run_cycle(settings, store, only_ip=ip, alert=Alerter(lambda: settings))
    finally:
        await store.close()


def _as_json(report: CycleReport) -> dict:
    return {
        "seconds": round(report.seconds, 3),
        "queries": report.queries,
        "canaries": report.canaries,
        "standings": [asdict(s) for s in report.standings],
        "history": [asdict(h) for h in report.history],
    }


def render(report: CycleReport) -> str:
    """The report as lines: the lists, then each target that is not clean."""
    lines = [f"{report.queries} queries in {report.seconds:.2f} s"]
    for zone, why in sorted(report.canaries.items()):
        lines.append(f"  list {zone}: " + (f"DISABLED this cycle: {why}" if why else "ok"))
    shown = [s for s in report.standings if s.status != "clean" or s.listed]
    for s in sorted(shown, key=lambda s: (s.target, s.zone)):
        confirmed = "LISTED (confirmed)" if s.listed else s.status
        pending = f", {s.streak} cycle(s) toward a change" if s.streak else ""
        lines.append(f"  {s.target} on {s.zone}: {confirmed} {s.answer}{pending}".rstrip())
    clean = sum(1 for s in report.standings if s.status == "clean" and not s.listed)
    lines.append(f"  {clean} checks clean")
    for h in report.history:
        if h.event in ("listed", "delisted", "quarantined", "restored"):
            lines.append(f"  {h.event}: {h.target} on {h.zone}")
    return "\n".join(lines)
