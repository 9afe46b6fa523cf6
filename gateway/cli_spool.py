"""`sluice spool list|flush|delete`: the fallback spool from a shell.

``list`` and ``delete`` work on the folder, daemon running or not. ``flush``
delivers the folders no running process holds (the daemon stopped or
killed) through PowerMTA now, as the daemon's task would; a folder a
running process holds is that process's to deliver (``POST
/api/spool/flush`` skips its backoff).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Callable
from typing import Any

from conf import ConfigError, load
from conf.schema.spool import SpoolSettings
from gateway import downstream as downstream_mod
from gateway import spool as spool_mod
from gateway.spool import SENDING, Spool, read_entry
from policy.events import Recorder
from policy.store import open_store
from scheduler.feedback_service import FeedbackService
from scheduler.spool_delivery import SpoolDelivery


def add_commands(sub: argparse._SubParsersAction) -> dict[str, Callable[[Any], int]]:
    sp = sub.add_parser("spool", help="the fallback spool: list, flush (deliver now), delete")
    sp.add_argument("action", choices=["list", "flush", "delete"])
    sp.add_argument("ids", nargs="*", help="entry ids (delete)")
    sp.add_argument("--dir", help="the spool folder (default: spool.dir of the configuration)")
    sp.add_argument("--json", action="store_true", help="list: one JSON object per line")
    sp.add_argument("-c", "--config")
    return {"spool": _spool}


def _settings(args: argparse.Namespace) -> SpoolSettings:
    spool = load(args.config).spool
    return spool.model_copy(update={"dir": args.dir}) if args.dir else spool


def _spool(args: argparse.Namespace) -> int:
    try:
        settings = _settings(args)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    if settings.dir is None:
        print("the spool is off (spool.dir is null)", file=sys.stderr)
        return 2
    if args.action == "list":
        return _list(settings.dir, args.json)
    if args.action == "delete":
        return _delete(settings.dir, args.ids)
    return _flush(args, settings)


def _list(root: str, as_json: bool) -> int:
    now, total, size = time.time(), 0, 0
    for owner, path in spool_mod.listing(root):
        try:
            entry, _ = read_entry(path)
        except (OSError, ValueError) as exc:
            print(f"{path}: unreadable: {exc}", file=sys.stderr)
            continue
        total, size = total + 1, size + entry.size
        state = "sending" if entry.claimed else "ready"
        row = {"id": entry.id, "owner": owner, "state": state, "age": round(now - entry.at, 1)}
        row.update(tenant=entry.tenant, ip=entry.ip, vmta=entry.vmta, size=entry.size)
        row.update(message_id=entry.message_id, recipients=list(entry.recipients))
        if as_json:
            print(json.dumps(row))
        else:
            print(
                f"{entry.id}  {state:7}  {row['age']:>9.1f}s  {entry.tenant}  {entry.ip}"
                f"  {entry.vmta}  {entry.size:>8}B  {len(entry.recipients)} rcpt"
                f"  {entry.message_id}"
            )
    if not as_json:
        print(f"{total} message(s), {size} bytes of messages, in {root}")
    return 0


def _delete(root: str, ids: list[str]) -> int:
    if not ids:
        print("delete: name the entry ids (see sluice spool list)", file=sys.stderr)
        return 2
    found = {path.stem: path for _, path in spool_mod.listing(root)}
    code = 0
    for entry_id in ids:
        path = found.get(entry_id)
        if path is None:
            print(f"{entry_id}: no such entry", file=sys.stderr)
            code = 1
        elif path.suffix == SENDING:
            print(f"{entry_id}: being sent now, not deleted", file=sys.stderr)
            code = 1
        else:
            try:
                path.unlink()
            except FileNotFoundError:
                print(f"{entry_id}: delivered or deleted meanwhile", file=sys.stderr)
                code = 1
                continue
            # The sender was told 250: nobody else will hear of this message.
            print(f"{entry_id}: deleted (not delivered, not reported to the sender)")
    return code


def _flush(args: argparse.Namespace, spool: SpoolSettings) -> int:
    try:
        settings = load(args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    if settings.downstream.sink:
        print("downstream.sink is set: there is no PowerMTA to flush to", file=sys.stderr)
        return 2

    async def main() -> int:
        store = open_store(settings.database)
        await store.open()
        kept = Spool(spool, owner=f"cli-{time.time_ns()}")
        kept.open()  # adopts every folder whose process is gone
        down = downstream_mod.build(settings.downstream, settings.smtp.hostname)
        recorder = Recorder(store)
        feedback = FeedbackService(store, lambda: settings)

        async def deliver_one(entry: spool_mod.Entry, data: bytes) -> downstream_mod.Result:
            return await down.send(entry.mail_from, entry.recipients, data, smtputf8=entry.smtputf8)

        delivery = SpoolDelivery(
            kept, read_entry, deliver_one, feedback.ingest_records, recorder.add, lambda: spool
        )
        try:
            await delivery.round()
            await recorder.flush()
        finally:
            await down.close()
            left = kept.count
            kept.close()  # what is left waits for the daemon, which adopts it
            await store.close()
        held = [o for o, _ in spool_mod.listing(spool.dir or "") if not o.startswith("cli-")]
        print(f"{left} message(s) left in the flushed folder(s)")
        if held:
            print(f"{len(held)} message(s) held by running processes: POST /api/spool/flush")
        return 0 if left == 0 else 1

    return asyncio.run(main())
