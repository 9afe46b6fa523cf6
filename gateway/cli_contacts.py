"""`sluice contacts import|export`: a tenant's contacts as CSV from a shell.

The format is `policy.scenarios.contacts_csv`'s, the admin API's too. An import
is all rows or none: every bad row is named by row and column and nothing is
written; a large file shows its progress on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import sys
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from gateway.cli_policy import _actor, _with_store
from policy.scenarios import contacts_csv
from policy.scenarios.contacts import ContactFilter

PROGRESS_FROM = 5000  # rows; below this an import is quick enough to need none
EXPORT_PAGE = 1000


def add_commands(sub: argparse._SubParsersAction) -> dict[str, Callable[[Any], int]]:
    sp = sub.add_parser("contacts", help="a tenant's contacts as CSV: import (all or none), export")
    # One parser per action, so a FILE after --tenant is still the file.
    actions = sp.add_subparsers(dest="action", required=True)
    for name, what in (
        ("import", "read (default: stdin)"),
        ("export", "written (default: stdout)"),
    ):
        action = actions.add_parser(name, help=f"contacts {name}")
        action.add_argument("file", nargs="?", help=f"the CSV {what}")
        action.add_argument("--tenant", required=True)
        action.add_argument("-c", "--config")
    return {"contacts": _contacts}


def _progress(total: int) -> Callable[[int], None]:
    def show(done: int) -> None:
        width = 30
        filled = width * min(done, total) // max(total, 1)
        bar = "#" * filled + "." * (width - filled)
        sys.stderr.write(f"\r[{bar}] {done}/{total} rows")
        sys.stderr.flush()

    return show


def _read_text(path: str | None) -> str:
    if path is None:
        return sys.stdin.read()
    with open(path, newline="", encoding="utf-8-sig") as f:
        return f.read()


async def _import(args: argparse.Namespace, store: Any) -> int:
    text = await asyncio.to_thread(_read_text, args.file)
    rows = text.count("\n")
    show = _progress(rows - 1) if rows > PROGRESS_FROM else None
    try:
        pairs, problems = contacts_csv.read(text, args.tenant, show)
    except csv.Error as exc:
        print(f"sluice contacts: not CSV: {exc}; nothing imported", file=sys.stderr)
        return 1
    if show is not None:
        sys.stderr.write("\n")
    if problems:
        for p in problems:
            print(f"sluice contacts: {p}", file=sys.stderr)
        print("nothing imported", file=sys.stderr)
        return 1
    # One store call, one transaction: nothing is half-imported.
    source = f"import:{_actor()}"
    contacts = [c if c.source else replace(c, source=source) for c, _ in pairs]
    fields = [g | {"source"} for _, g in pairs]
    outcomes = await store.upsert_contacts(args.tenant, contacts, fields)
    created, updated = outcomes.count("created"), outcomes.count("updated")
    print(f"imported {len(contacts)}: {created} created, {updated} updated", file=sys.stderr)
    return 0


def _open(path: str) -> Any:
    return open(path, "w", newline="", encoding="utf-8")


async def _export(args: argparse.Namespace, store: Any) -> int:
    # A CLI's own file: writing it from the loop blocks nobody else.
    out = await asyncio.to_thread(_open, args.file) if args.file else sys.stdout
    try:
        out.write(next(contacts_csv.rows([])))
        after, total = None, 0
        for _ in range(10_000_000):  # bounded: ends at the last (short) page
            page = await store.contacts_page(
                args.tenant, ContactFilter(status=None), after, EXPORT_PAGE
            )
            out.write("".join(contacts_csv.rows(page, header=False)))
            total += len(page)
            if len(page) < EXPORT_PAGE:
                break
            after = page[-1].email
    finally:
        if out is not sys.stdout:
            out.close()
    print(f"exported {total}", file=sys.stderr)
    return 0


def _contacts(args: argparse.Namespace) -> int:
    async def work(settings: Any, store: Any) -> int:
        if args.tenant not in [t.name for t in settings.tenants]:
            raise ValueError(f"no tenant {args.tenant!r}")
        return await (_import if args.action == "import" else _export)(args, store)

    return _with_store(args, work)
