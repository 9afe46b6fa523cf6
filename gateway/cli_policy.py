"""The operator's commands: `sluice quotas`, `sluice ip`, `sluice switch`, `sluice suppress`.

Each opens the configured store (and Redis, for live counts), calls one
function of policy.quota.operations or the store, prints the answer and exits.
Running daemons see a change within `policy.refresh` seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import io
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from conf import ConfigError, Settings, load
from policy import suppression
from policy.quota import operations
from policy.quota.ipstate import IpStateError
from policy.quota.operations import IpQuota, Line
from policy.store import Store, bounce_review, open_store
from policy.suppression import Suppression, SuppressionError
from policy.switches import SwitchError


def add_commands(sub: argparse._SubParsersAction) -> dict[str, Callable[[Any], int]]:
    q = sub.add_parser("quotas", help="per IP: state, warmup day, today's limits, used, remaining")
    q.add_argument("-c", "--config")
    q.add_argument("--tenant", help="only this tenant's pool")

    ip = sub.add_parser("ip", help="change an IP's state or warmup day, or show its history")
    ip.add_argument("action", choices=[*operations.IP_ACTIONS, "history"])
    ip.add_argument("ip")
    ip.add_argument("day", nargs="?", type=int, help="the warmup day, for set-day")
    ip.add_argument("--reason", default="", help="recorded with the transition")
    ip.add_argument("-c", "--config")

    sw = sub.add_parser("switch", help="kill switches: pause or dry-run, global or per tenant")
    sw.add_argument("action", choices=["on", "off", "list"])
    sw.add_argument("kind", nargs="?", choices=["pause", "dry-run"])
    sw.add_argument("--tenant", help="one tenant (default: every tenant)")
    sw.add_argument("--reason", default="")
    sw.add_argument("-c", "--config")

    sp = sub.add_parser(
        "suppress", help="the suppression lists: add, remove, check, import, export, review"
    )
    sp.add_argument("action", choices=["add", "remove", "check", "import", "export", "review"])
    sp.add_argument("addresses", nargs="*", help="addresses (add, remove, check)")
    sp.add_argument("--tenant", default="", help="tenant (default: the global list)")
    sp.add_argument("--reason", default="manual", choices=suppression.REASONS)
    sp.add_argument("--file", help="CSV to import, or to export to (default: stdin/stdout)")
    sp.add_argument(
        "--all",
        action="store_true",
        help="review: every hard-bounce suppression, not only low-confidence readings",
    )
    sp.add_argument(
        "--scan", type=int, default=50_000, help="review: how many recent bounce events to read"
    )
    sp.add_argument("-c", "--config")
    return {"quotas": _quotas, "ip": _ip, "switch": _switch, "suppress": _suppress}


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except OSError:
        return "cli"


def _with_store(args: argparse.Namespace, work: Callable[[Settings, Store], Awaitable[int]]) -> int:
    try:
        settings = load(args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2

    async def main() -> int:
        store = open_store(settings.database)
        await store.open()
        try:
            return await work(settings, store)
        finally:
            await store.close()

    try:
        return asyncio.run(main())
    except (IpStateError, SwitchError, SuppressionError, ValueError) as exc:
        print(f"sluice {args.command}: {exc}", file=sys.stderr)
        return 1


def _quotas(args: argparse.Namespace) -> int:
    async def work(settings: Settings, store: Store) -> int:
        counters = None
        if settings.redis is not None:
            from policy.counters.redis import RedisCounters

            counters = RedisCounters.from_url(settings.redis, prefix=settings.redis_prefix)
        try:
            rows = await operations.quotas(
                settings, store, datetime.now(UTC), counters=counters, tenant=args.tenant
            )
        finally:
            if counters is not None:
                await counters.close()
        print(format_quotas(rows, live=counters is not None))
        return 0

    return _with_store(args, work)


def _cell(line: Line | None) -> str:
    if line is None:
        return "-"
    if line.limit is None:
        return f"{line.used}/-"
    return f"{line.used}/{line.limit}"


def format_quotas(rows: list[IpQuota], *, live: bool) -> str:
    """The quotas as a table: used/limit per window, remaining of the day, then groups."""
    head = ("pool", "ip", "vmta", "state", "day", "today", "left", "this hour", "groups")
    table = [head]
    for r in rows:
        left = r.daily.remaining
        groups = " ".join(f"{g}={_cell(line)}" for g, line in r.groups.items())
        table.append(
            (
                r.pool,
                r.ip,
                r.vmta,
                r.state,
                str(r.day) if r.day else "-",
                _cell(r.daily),
                "-" if left is None else str(left),
                _cell(r.hourly),
                groups or "-",
            )
        )
    widths = [max(len(row[i]) for row in table) for i in range(len(head))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in table]
    source = "live counters" if live else "recorded events (reservations in flight not shown)"
    return "\n".join([*(line.rstrip() for line in lines), f"# used from {source}"])


def _ip(args: argparse.Namespace) -> int:
    async def work(settings: Settings, store: Store) -> int:
        if args.action == "history":
            operations.find_ip(settings, args.ip)
            for t in await store.ip_history(args.ip):
                days = f"day {t.from_day}->{t.to_day}" if t.from_day != t.to_day else ""
                print(
                    f"{t.at:%Y-%m-%d %H:%M:%S}Z  {t.from_state.value}->{t.to_state.value}"
                    f"  {days:<12} {t.actor}: {t.reason}"
                )
            return 0
        change = await operations.ip_action(
            settings,
            store,
            args.ip,
            args.action,
            actor=_actor(),
            now=datetime.now(UTC),
            detail=args.reason,
            day=args.day,
        )
        print(f"{change.ip}: {change.from_state.value} -> {change.to_state.value}: {change.reason}")
        return 0

    return _with_store(args, work)


def _switch(args: argparse.Namespace) -> int:
    async def work(settings: Settings, store: Store) -> int:
        if args.action == "list":
            switches = await store.switches()
            for s in switches:
                print(s.describe())
            if not switches:
                print("no switch is on")
            return 0
        if args.kind is None:
            raise SwitchError("name the switch: pause or dry-run")
        kind = args.kind.replace("-", "_")
        if args.action == "on":
            switch = await operations.set_switch(
                settings, store, kind, args.tenant, actor=_actor(), reason=args.reason
            )
            print(f"on: {switch.describe()}")
        elif await operations.clear_switch(settings, store, kind, args.tenant):
            print(f"off: {args.kind} for {args.tenant or 'every tenant'}")
        else:
            print(f"{args.kind} for {args.tenant or 'every tenant'} was not on")
        return 0

    return _with_store(args, work)


def _read(path: str | None) -> str:
    if path is None:
        return sys.stdin.read()
    with open(path, newline="") as f:
        return f.read()


def _write(path: str | None, text: str) -> None:
    if path is None:
        sys.stdout.write(text)
        return
    with open(path, "w", newline="") as f:
        f.write(text)


def _suppress(args: argparse.Namespace) -> int:
    async def work(settings: Settings, store: Store) -> int:
        if args.tenant and args.tenant not in [t.name for t in settings.tenants]:
            raise ValueError(f"no tenant {args.tenant!r}")
        source = _actor()
        if args.action == "add":
            entries = [Suppression(args.tenant, a, args.reason, source) for a in args.addresses]
            print(f"suppressed {await store.suppress(entries)}")
        elif args.action == "remove":
            print(f"removed {await store.unsuppress(args.tenant, args.addresses)}")
        elif args.action == "check":
            lists = suppression.SuppressionList()
            lists.apply(await store.suppressions())
            found = False
            for address in args.addresses:
                entry = lists.check(args.tenant, address)
                found = found or entry is not None
                print(f"{address}: {entry.describe() if entry else 'not suppressed'}")
            return 3 if found else 0
        elif args.action == "review":
            items = await bounce_review.to_review(
                store, args.tenant or None, scan=args.scan, everything=args.all
            )
            sys.stdout.write(format_review(items))
            print(f"to review: {len(items)}", file=sys.stderr)
        elif args.action == "import":
            text = await asyncio.to_thread(_read, args.file)
            entries = suppression.read_csv(
                io.StringIO(text), tenant=args.tenant, reason=args.reason, source=f"import:{source}"
            )
            # One transaction: an import that fails half-way leaves nothing behind.
            print(f"imported {await store.suppress(entries)}", file=sys.stderr)
        else:
            entries = await store.suppressions(args.tenant or None)
            await asyncio.to_thread(_write, args.file, suppression.csv_text(entries))
            print(f"exported {len(entries)}", file=sys.stderr)
        return 0

    return _with_store(args, work)


def format_review(items: list[bounce_review.ReviewItem]) -> str:
    """One tab-separated line per suppression: what to look at and why."""
    out = ["tenant\taddress\tsince\tsource\trule\tconfidence\tevidence"]
    for item in items:
        s = item.suppression
        since = datetime.fromtimestamp(s.created_at, UTC).strftime("%Y-%m-%d %H:%M")
        evidence = item.evidence.replace("\t", " ").replace("\n", " ")
        rule = item.rule or "(no reading recorded)"
        out.append(
            f"{s.tenant or '-'}\t{s.address}\t{since}\t{s.source}\t{rule}"
            f"\t{item.confidence or '-'}\t{evidence}"
        )
    return "\n".join(out) + "\n"
