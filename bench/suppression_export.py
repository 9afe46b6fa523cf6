"""Rows per second and peak memory of GET /api/suppression/export over a large list.

A list of ``--rows`` entries (default 1,000,000: three tenants and the global
list) is written straight into a fresh store: a SQLite file in a temporary
folder, and a throwaway schema of the PostgreSQL at ``SLUICE_TEST_PG`` when
it answers. One server process runs the admin app as the daemon builds it
(no access log); the client streams the export ``--runs`` times, counting
rows, and reads the server's peak RSS (VmHWM, reset before each run) from
/proc. For scale, a second process then does what ``sluice suppress export``
does (every entry loaded, then written as one text) and reports its own
time and peak.

    .venv/bin/python bench/suppression_export.py [--rows 1000000] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import signal
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

from procs import free_port, reset_peak, status_kb, terminate

TOKEN = "bench-viewer-token"
TENANTS = ("acme", "beta", "gamma")
CONFIG = """
tenants:
  - {name: acme, pool: p, trusted_networks: [127.0.0.1/32], sender_domains: [a.example]}
  - {name: beta, pool: p, trusted_networks: [127.0.0.1/32], sender_domains: [b.example]}
  - {name: gamma, pool: p, trusted_networks: [127.0.0.1/32], sender_domains: [c.example]}
pools:
  p: [{ip: 192.0.2.10, vmta: v1, hostname: h1}]
"""


def rows(count: int) -> list[tuple]:
    reasons = ("hard_bounce", "complaint", "unsubscribe", "manual")
    created = time.time() - 86400 * 30
    out = []
    for i in range(count):
        tenant = "" if i % 10 == 0 else TENANTS[i % 3]
        expires = created + 86400 * 90 if i % 7 == 0 else None
        address = f"subscriber.{i:07d}@mail{i % 500}.example.com"
        out.append(
            (tenant, address, reasons[i % 4], "dsn:userunknown", created + i, expires, i + 1)
        )
    return out


INSERT = """INSERT INTO suppression
    (tenant, address, reason, source, created_at, expires_at, removed, seq)
    VALUES (?, ?, ?, ?, ?, ?, FALSE, ?)"""
COPY_COLUMNS = ["tenant", "address", "reason", "source", "created_at", "expires_at", "seq"]


async def seed(url: str, count: int) -> None:
    from policy.store import open_store

    store = open_store(url)
    await store.open()  # the schema, migrated
    await store.close()
    data = rows(count)
    if url.startswith("sqlite"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            conn.executemany(INSERT, data)
    else:
        import asyncpg

        conn = await asyncpg.connect(url)
        try:
            await conn.copy_records_to_table("suppression", records=data, columns=COPY_COLUMNS)
            await conn.execute("ANALYZE suppression")
        finally:
            await conn.close()


async def serve(port: int, url: str) -> None:
    from aiohttp import web

    import conf
    from admin.api import AdminContext
    from admin.app import make_app
    from admin.auth import digest
    from policy.store import open_store

    settings = conf.parse(CONFIG, environ={})
    token = conf.AdminToken(name="bench", token_sha256=digest(TOKEN), role="viewer")
    http = settings.http.model_copy(update={"admin_tokens": (token,)})
    settings = settings.model_copy(update={"http": http})
    store = open_store(url)
    await store.open()
    app = make_app({}, ctx=AdminContext(settings=lambda: settings, store=store))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    print("ready", flush=True)
    await stop.wait()
    await runner.cleanup()
    await store.close()


async def in_memory(url: str) -> None:
    """What ``sluice suppress export`` does: every entry loaded, then one CSV text."""
    from policy.store import open_store
    from policy.suppression import csv_text

    store = open_store(url)
    await store.open()
    started = time.perf_counter()
    entries = await store.suppressions()
    text = csv_text(entries)
    seconds = time.perf_counter() - started
    await store.close()
    peak = status_kb(os.getpid(), "VmHWM") / 1024
    print(json.dumps({"rows": len(entries), "bytes": len(text), "seconds": seconds, "mb": peak}))


async def stream_once(port: int, pid: int) -> dict:
    import aiohttp

    reset_peak([pid])
    before = status_kb(pid, "VmRSS") / 1024
    headers = {"Authorization": f"Bearer {TOKEN}"}
    lines = size = 0
    started = time.perf_counter()
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}/api/suppression/export", headers=headers) as r,
    ):
        assert r.status == 200, await r.text()
        async for chunk in r.content.iter_chunked(256 * 1024):
            lines += chunk.count(b"\n")
            size += len(chunk)
    seconds = time.perf_counter() - started
    peak = status_kb(pid, "VmHWM") / 1024
    return {"rows": lines - 1, "bytes": size, "seconds": seconds, "before": before, "peak": peak}


async def measure(name: str, url: str, args: argparse.Namespace) -> dict:
    started = time.perf_counter()
    await seed(url, args.rows)
    print(f"{name}: seeded {args.rows:,} rows in {time.perf_counter() - started:.0f} s", flush=True)
    port = free_port()
    server = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--serve", str(port), url, stdout=asyncio.subprocess.PIPE
    )
    try:
        assert server.stdout is not None and (await server.stdout.readline()).strip() == b"ready"
        runs = []
        for _ in range(args.runs):
            runs.append(await stream_once(port, server.pid))
            print(f"{name}: {runs[-1]}", flush=True)
    finally:
        await terminate(server)
    ref = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--in-memory", url, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await asyncio.wait_for(ref.communicate(), 600)
    reference = json.loads(out.decode().strip().splitlines()[-1])
    assert all(r["rows"] == args.rows for r in runs), runs
    return {
        "backend": name,
        "rows_per_s": statistics.median(args.rows / r["seconds"] for r in runs),
        "seconds": statistics.median(r["seconds"] for r in runs),
        "mb": statistics.median(r["bytes"] for r in runs) / 1e6,
        "rss_before": statistics.median(r["before"] for r in runs),
        "rss_peak": statistics.median(r["peak"] for r in runs),
        "ref_seconds": reference["seconds"],
        "ref_peak": reference["mb"],
    }


async def run(args: argparse.Namespace) -> list[dict]:
    folder = Path(tempfile.mkdtemp(prefix="sluice-bench-export-"))
    results = []
    try:
        if "sqlite" in args.backends:
            results.append(await measure("sqlite", f"sqlite:///{folder}/bench.db", args))
        if "postgresql" in args.backends:
            results += await with_postgres(args)
    finally:
        shutil.rmtree(folder)
    return results


async def with_postgres(args: argparse.Namespace) -> list[dict]:
    import asyncpg

    dsn = os.environ.get("SLUICE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
    schema = f"sluice_bench_{secrets.token_hex(3)}"
    try:
        conn = await asyncpg.connect(dsn)
    except (OSError, asyncpg.PostgresError) as exc:
        print(f"postgresql: skipped ({exc})")
        return []
    await conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        sep = "&" if "?" in dsn else "?"
        url = f"{dsn}{sep}options=-csearch_path%3D{schema}"
        return [await measure("postgresql", url, args)]
    finally:
        await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await conn.close()


def report(results: list[dict], args: argparse.Namespace) -> str:
    lines = [
        f"{args.rows:,} entries, median of {args.runs} streamed exports; "
        "reference: all loaded, then one text (`sluice suppress export`)",
        "",
        "| backend | rows/s | s | MB sent | server RSS before / peak MB"
        " | reference s | reference peak MB |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['backend']} | {r['rows_per_s']:,.0f} | {r['seconds']:.1f} | {r['mb']:.0f} | "
            f"{r['rss_before']:.0f} / {r['rss_peak']:.0f} | {r['ref_seconds']:.1f} | "
            f"{r['ref_peak']:.0f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--serve", nargs=2, metavar=("PORT", "URL"), help=argparse.SUPPRESS)
    parser.add_argument("--in-memory", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(int(args.serve[0]), args.serve[1]))
        return
    if args.in_memory:
        asyncio.run(in_memory(args.in_memory))
        return
    text = report(asyncio.run(run(args)), args)
    print(text)
    results = Path(__file__).parent / "results"
    results.mkdir(exist_ok=True)
    (results / f"suppression-export-{time.strftime('%Y%m%d-%H%M%S')}.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
