"""``sluice migrate [--check]`` and ``sluice --version``.

The daemon migrates its database when it starts; ``migrate`` does it on its
own (before starting the new version on several hosts, say), and ``--check``
says whether an upgrade has migrations to run without running them: it exits
1 when some are pending, so a deployment script can stop there.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from importlib import metadata
from typing import Any

from conf import ConfigError, load
from gateway.startup import one_line, redact


def version() -> str:
    try:
        return metadata.version("sluice")
    except metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown (not installed)"


def add_commands(sub: argparse._SubParsersAction) -> dict[str, Callable[[Any], int]]:
    mg = sub.add_parser("migrate", help="bring the database's schema up to date")
    mg.add_argument("-c", "--config")
    mg.add_argument(
        "--check", action="store_true", help="only say whether migrations are pending (exit 1)"
    )
    return {"migrate": _migrate}


def _migrate(args: argparse.Namespace) -> int:
    from policy.store import open_store
    from policy.store.versions import state

    try:
        settings = load(args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    where = redact(settings.database)

    async def main() -> int:
        before = await state(settings.database)
        if args.check:
            if before.pending:
                print(
                    f"{where}: schema version {before.current}, this Sluice needs"
                    f" {before.latest}: {before.pending} migration(s) pending (run sluice migrate)"
                )
                return 1
            print(f"{where}: schema version {before.current}, up to date")
            return 0
        store = open_store(settings.database)
        await store.open()  # migrates, under the stores' lock
        await store.close()
        after = await state(settings.database)
        print(f"{where}: schema version {before.current} -> {after.current}")
        return 0

    try:
        return asyncio.run(main())
    except Exception as exc:  # a driver's refusal, said on one line
        print(f"sluice migrate: {where}: {one_line(exc)}", file=sys.stderr)
        return 1
