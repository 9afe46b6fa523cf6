"""Latency of the admin API's GET /api/quotas/{tenant} with 200 IPs, against /healthz.

One server process runs the admin app as the daemon builds it (make_app with
an AdminContext, uvloop, no access log) over a tenant whose pool has 200 IPs:
100 warming on the standard schedule (days 1 to 42, so every provider group
has a limit) and 100 warm ones with a daily_limit. The store is PostgreSQL
when reachable (a schema of its own, dropped afterwards), else SQLite in a
temporary folder; every IP has a stored state (one warmup clock tick). The
counters are real Redis when reachable (a key prefix of its own, deleted
afterwards), with units reserved on every IP, else in-process counters.

One client process keeps ``--concurrency`` HTTP/1.1 connections open and
sends, path after path: /healthz, GET /api/quotas/bench, POST
/api/quotas/bench/check. Each path: ``--warmup`` requests, then
``--requests`` requests or ``--seconds`` seconds, whichever ends first.

    .venv/bin/python bench/admin_api.py [--requests 4000] [--concurrency 20]
    .venv/bin/python bench/admin_api.py --sqlite --memory   # without the servers
    .venv/bin/python bench/admin_api.py --unshared          # no admin.shared_reads
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import signal
import socket
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import http_load
from procs import free_port

IPS = 200
TOKEN = "bench-admin-token-0123456789"
TARGET_MS = 20.0
PG_DSN = os.environ.get("SLUICE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("SLUICE_TEST_REDIS", "redis://127.0.0.1:6379/0")


def reachable(url: str, default_port: int) -> bool:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname, parts.port or default_port), 0.5):
            return True
    except OSError:
        return False


def settings_text() -> str:
    today = datetime.now(UTC).date()
    lines = []
    for i in range(IPS):
        ip = f"10.{20 + i // 250}.{i % 250}.1"
        if i < IPS // 2:
            started = today - timedelta(days=i % 42)
            warmup = f', warmup: {{started: "{started}"}}'
        else:
            warmup = f", daily_limit: {10_000 + i}"
        lines.append(f"    - {{ip: {ip}, vmta: v{i}, hostname: h{i}.bench.example{warmup}}}")
    return (
        "tenants:\n"
        "  - {name: bench, pool: bench, trusted_networks: [127.0.0.1/32],"
        " sender_domains: [bench.example]}\n"
        "pools:\n  bench:\n" + "\n".join(lines) + "\n"
    )


async def serve(port: int, database: str, redis_prefix: str, unshared: bool) -> None:
    from aiohttp import web

    import conf
    from admin.api import AdminContext
    from admin.app import make_app
    from admin.auth import digest
    from policy.counters import Reservation
    from policy.counters.memory import MemoryCounters
    from policy.counters.redis import RedisCounters
    from policy.quota.selection import Planner
    from policy.store import open_store
    from scheduler import warmup_clock

    if unshared:
        from admin.shared_reads import SharedReads

        async def every_time(self, key, compute):
            return await compute()

        SharedReads.get = every_time  # each request computes its own answer
    settings = conf.parse(settings_text(), environ={})
    token = conf.AdminToken(name="bench", token_sha256=digest(TOKEN), role="viewer")
    settings = settings.model_copy(update={"http": conf.HttpSettings(admin_tokens=(token,))})
    store = open_store(database)
    await store.open()
    now = datetime.now(UTC)
    await warmup_clock.tick(settings, store, now)
    counters = (
        RedisCounters.from_url(REDIS_URL, prefix=redis_prefix) if redis_prefix else MemoryCounters()
    )
    # Some use on every IP, as on a working day.
    planner = Planner(settings.warmup)
    for group in ("default", "google"):
        for candidate in planner.candidates(settings.pools["bench"], now, group):
            taken = await counters.reserve(candidate.limits)
            assert isinstance(taken, Reservation), taken
            await counters.commit(taken)

    ctx = AdminContext(settings=lambda: settings, store=store, counters=counters)
    app = make_app({"store": store.ping}, ctx=ctx)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    print("ready", flush=True)
    await stop.wait()
    await runner.cleanup()
    if redis_prefix:
        client = counters._client  # the bench's own keys, under its own prefix
        keys = [k async for k in client.scan_iter(match=redis_prefix + "*", count=1000)]
        if keys:
            await client.delete(*keys)
    await counters.close()
    await store.close()


def request_bytes(method: str, path: str, body: bytes = b"") -> bytes:
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def drive(port: int, request: bytes, count: int, seconds: float, conc: int) -> dict:
    """``count`` requests over ``conc`` keep-alive connections, or until ``seconds`` pass."""
    return await http_load.drive(port, [request], count, seconds, conc)


async def backends(args: argparse.Namespace) -> tuple[str, str, str, object]:
    """(database URL, Redis prefix or "", label, cleanup) for this run."""
    folder = Path(tempfile.mkdtemp(prefix="sluice-bench-admin-"))
    schema = ""
    if not args.sqlite and reachable(PG_DSN, 5432):
        import asyncpg

        schema = f"sluice_bench_{secrets.token_hex(3)}"
        conn = await asyncpg.connect(PG_DSN)
        await conn.execute(f'CREATE SCHEMA "{schema}"')
        await conn.close()
        sep = "&" if "?" in PG_DSN else "?"
        database, label = f"{PG_DSN}{sep}options=-csearch_path%3D{schema}", "PostgreSQL"
    else:
        database, label = f"sqlite:///{folder}/bench.db", "SQLite"
    prefix = ""
    if not args.memory and reachable(REDIS_URL, 6379):
        prefix, label = f"sluice-bench-{secrets.token_hex(3)}:", label + " + Redis"
    else:
        label += " + in-process counters"

    async def cleanup() -> None:
        shutil.rmtree(folder, ignore_errors=True)
        if schema:
            import asyncpg

            conn = await asyncpg.connect(PG_DSN)
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            await conn.close()

    return database, prefix, label, cleanup


async def run(args: argparse.Namespace) -> tuple[str, list[tuple[str, dict]]]:
    port = free_port()
    database, prefix, label, cleanup = await backends(args)
    server = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--serve",
        str(port),
        database,
        prefix or "-",
        "unshared" if args.unshared else "shared",
        stdout=asyncio.subprocess.PIPE,
    )
    paths = [
        ("GET /healthz", request_bytes("GET", "/healthz")),
        ("GET /api/quotas/bench", request_bytes("GET", "/api/quotas/bench")),
        (
            "POST /api/quotas/bench/check",
            request_bytes(
                "POST", "/api/quotas/bench/check", json.dumps({"emails_to_send": 50_000}).encode()
            ),
        ),
    ]
    try:
        assert server.stdout is not None
        line = await asyncio.wait_for(server.stdout.readline(), 120)
        assert line.strip() == b"ready", line
        results = []
        for name, request in paths:
            await drive(port, request, args.warmup, args.seconds, args.concurrency)
            result = await drive(port, request, args.requests, args.seconds, args.concurrency)
            results.append((name, result))
    finally:
        if server.returncode is None:
            server.send_signal(signal.SIGTERM)
        await asyncio.wait_for(server.communicate(), 60)
        await cleanup()
    return label, results


def report(label: str, results: list[tuple[str, dict]], args: argparse.Namespace) -> str:
    health = dict(results)["GET /healthz"]["p50_ms"]
    lines = [
        f"{IPS} IPs in one pool, {label}{', unshared' if args.unshared else ''};"
        f" concurrency {args.concurrency}, up to"
        f" {args.requests} requests or {args.seconds:g} s per path after {args.warmup} warm-up",
        "",
        "| path | requests | req/s | p50 ms | p99 ms | p50 vs /healthz | body bytes | errors"
        " | target (p50 < 20 ms) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name, r in results:
        verdict = "-"
        if "quotas/bench" in name and "check" not in name:
            verdict = "PASS" if r["p50_ms"] < TARGET_MS else "FAIL"
        lines.append(
            f"| {name} | {r['requests']} | {r['rps']} | {r['p50_ms']} | {r['p99_ms']} |"
            f" {r['p50_ms'] / health:.1f}x | {r['bytes']} | {r['errors']} | {verdict} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=4_000)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=30.0, help="cap per path")
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--sqlite", action="store_true", help="SQLite even if PostgreSQL answers")
    parser.add_argument("--memory", action="store_true", help="in-process counters, not Redis")
    parser.add_argument(
        "--unshared", action="store_true", help="every request computes its own answer"
    )
    parser.add_argument("--serve", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    runner = http_load.loop_runner()
    if args.serve:
        port, database, prefix, sharing = args.serve
        runner(serve(int(port), database, "" if prefix == "-" else prefix, sharing == "unshared"))
        return
    label, results = runner(run(args))
    print(report(label, results, args))


if __name__ == "__main__":
    main()
