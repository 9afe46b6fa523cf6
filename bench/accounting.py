"""Measure PowerMTA accounting ingestion: lines read per second, effects included.

    python bench/accounting.py [--lines 500000] [--database sqlite|postgresql://127.0.0.1/...]

Writes one accounting file of ``--lines`` records (a campaign's mix: 90%
delivered, 5% hard bounces, 3% transient failures, 1% remote bounces, 1%
complaints, every recipient distinct) into a temporary folder, then lets the
daemon's own tailer (``scheduler.accounting``) read it to the end with the
real effects: suppressions, soft-bounce counts and events written to a real
store (SQLite in the temporary folder by default; PostgreSQL only on
loopback, in a schema of its own that is dropped afterwards). Prints lines/s
by wall clock and by this process's CPU time, and what was written, so the
figure is checked, not assumed. Bounded: at most 5,000,000 lines, nothing
leaves the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from conf import parse  # noqa: E402
from policy.store import open_store  # noqa: E402
from scheduler.feedback_service import FeedbackService  # noqa: E402
from tests.support.acct import HEADER, line  # noqa: E402

MAX_LINES = 5_000_000
MIX = (("d", 90), ("b", 5), ("t", 3), ("rb", 1), ("f", 1))


def write_file(path: Path, lines: int) -> dict[str, int]:
    """The accounting file, written in blocks; the count of each record type."""
    kinds = [k for k, share in MIX for _ in range(share)]
    counts = dict.fromkeys((k for k, _ in MIX), 0)
    templates = {k: line(k, "RCPT") for k in counts}
    with path.open("w") as f:
        f.write(HEADER + "\n")
        block = []
        for i in range(lines):
            kind = kinds[i % len(kinds)]
            counts[kind] += 1
            block.append(templates[kind].replace("RCPT", f"user{i}@example.net"))
            if len(block) == 10_000:
                f.write("".join(block))
                block = []
        f.write("".join(block))
    return counts


async def run(lines: int, database: str | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        pmta = folder / "pmta"
        pmta.mkdir()
        url = database or f"sqlite:///{folder}/bench.db"
        schema = None
        if url.startswith("postgresql"):
            if urlsplit(url).hostname not in ("127.0.0.1", "localhost", "::1"):
                raise SystemExit("the benchmark only talks to a database on loopback")
            schema, url = await _bench_schema(url)
        counts = write_file(pmta / "acct.csv", lines)
        size = (pmta / "acct.csv").stat().st_size
        text = f"""
        database: "{url}"
        tenants:
          - {{name: acme, pool: p, trusted_networks: [127.0.0.1/32],
             sender_domains: [acme-mail.com]}}
        pools: {{p: [{{ip: 192.0.2.10, vmta: p1, hostname: mta1.example}}]}}
        feedback: {{inbox: "{folder}/inbox", accounting_folder: "{pmta}"}}
        """
        settings = parse(textwrap.dedent(text), environ=os.environ)
        store = open_store(url)
        await store.open()
        try:
            service = FeedbackService(store, lambda: settings)
            w0, c0 = time.perf_counter(), time.process_time()
            read = await service.accounting.poll()
            wall, cpu = time.perf_counter() - w0, time.process_time() - c0
            suppressed = len(await store.suppressions())
            events = len(await store.recent_events(lines + 1))
        finally:
            await store.close()
            if schema is not None:
                await _drop_schema(database or "", schema)
    print(
        f"store: {url.split(':')[0]}   file: {lines:,} lines, {size / 1e6:.1f} MB   mix: {counts}"
    )
    print(f"read {read:,} lines, {service.accounting.records:,} with feedback")
    print(f"written: {suppressed:,} suppressions, {events:,} events")
    print(
        f"wall {wall:.2f}s  {read / wall:,.0f} lines/s    cpu {cpu:.2f}s  {read / cpu:,.0f} lines/s"
    )


async def _bench_schema(url: str) -> tuple[str, str]:
    """A schema of its own, so the benchmark never writes into the database's tables."""
    import asyncpg

    schema = f"bench_accounting_{secrets.token_hex(3)}"
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(f'CREATE SCHEMA "{schema}"')
    finally:
        await conn.close()
    sep = "&" if "?" in url else "?"
    return schema, f"{url}{sep}options=-csearch_path%3D{schema}"


async def _drop_schema(url: str, schema: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=500_000)
    parser.add_argument("--database", help="store URL (default: SQLite in a temporary folder)")
    args = parser.parse_args()
    if not 0 < args.lines <= MAX_LINES:
        raise SystemExit(f"--lines must be 1..{MAX_LINES:,}")
    asyncio.run(run(args.lines, args.database))


if __name__ == "__main__":
    main()
