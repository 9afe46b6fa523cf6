"""`sluice scenarios list|show|stats|start|pause|resume|cancel`: scenarios from a shell.

The same lifecycle as the admin API (``scheduler.scenarios.lifecycle``), with
each action in the audit log under ``cli:<user>``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from typing import Any

from gateway.cli_policy import _actor, _with_store
from policy.audit import AuditEntry
from scheduler.scenarios import lifecycle, stats
from scheduler.scenarios.definitions import parse_json

ACTIONS = ("start", "pause", "resume", "cancel")


def add_commands(sub: argparse._SubParsersAction) -> dict[str, Callable[[Any], int]]:
    sp = sub.add_parser("scenarios", help="a tenant's scenarios: list, show, stats, act")
    actions = sp.add_subparsers(dest="action", required=True)
    for name in ("list", "show", "stats", *ACTIONS):
        action = actions.add_parser(name, help=f"scenarios {name}")
        action.add_argument("--tenant", required=True)
        if name != "list":
            action.add_argument("name")
        action.add_argument("-c", "--config")
    return {"scenarios": _scenarios}


async def _run(args: argparse.Namespace, store: Any) -> int:
    if args.action == "list":
        for row in await store.scenarios(args.tenant):
            print(f"{row.name}\t{row.status}\tv{row.version}")
        return 0
    row = await store.scenario(args.tenant, args.name)
    if row is None:
        raise ValueError(f"no scenario {args.name!r} for tenant {args.tenant!r}")
    if args.action == "show":
        print(json.dumps({"name": row.name, "status": row.status, "version": row.version,
                          "definition": json.loads(row.definition)}, indent=2))  # fmt: skip
        return 0
    if args.action == "stats":
        print(json.dumps(await stats.of(store, row), indent=2))
        return 0
    if args.action == "start" and (
        missing := await lifecycle.missing_templates(store, args.tenant, parse_json(row.definition))
    ):
        for where, name in missing:
            print(f"sluice scenarios: {where}: no template {name!r}", file=sys.stderr)
        return 1
    try:
        status = await lifecycle.act(store, args.tenant, args.name, args.action, time.time())
    except lifecycle.LifecycleError as exc:
        print(f"sluice scenarios: {exc}", file=sys.stderr)
        return 1
    target = f"{args.tenant}/{args.name}"
    before, after = json.dumps({"status": row.status}), json.dumps({"status": status})
    await store.record_audit(AuditEntry(_actor(), f"scenario.{args.action}", target, before, after))
    print(f"{target}: {status}")
    return 0


def _scenarios(args: argparse.Namespace) -> int:
    async def work(settings: Any, store: Any) -> int:
        if args.tenant not in [t.name for t in settings.tenants]:
            raise ValueError(f"no tenant {args.tenant!r}")
        return await _run(args, store)

    return _with_store(args, work)
