"""Requests per second of the public tracking endpoints, against /healthz of the same server.

One server process runs the public app as the daemon builds it (token keys
of one tenant, events through EngagementRecorder into SQLite in a temporary
folder, uvloop, no access log). One client process drives it over loopback
with ``--concurrency`` keep-alive connections, one path at a time: /healthz,
then click links (302), then open pixels (GIF), each over 1,000 recipients'
tokens. Each phase is a short warm-up, then ``--requests`` requests or
``--seconds`` seconds, whichever ends first. When the server has stopped,
the events it wrote are counted in its database.

    .venv/bin/python bench/tracking_endpoint.py [--requests 60000] [--concurrency 50]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import signal
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import http_load
from procs import free_port

from conf.schema import TenantSettings, TrackingSettings
from policy.links import message_ref
from policy.tokens import TokenKeys, issue

SECRET = "bench-tracking-secret-0123456789"
RECIPIENTS = 1000
AGENT = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36"
TARGET = 3000.0


def tenants() -> tuple[TenantSettings, ...]:
    tracking = TrackingSettings(base_url="http://127.0.0.1", secrets=(SECRET,))
    return (
        TenantSettings(
            name="bench",
            pool="p",
            trusted_networks=("127.0.0.1/32",),
            sender_domains=("b.example",),
            tracking=tracking,
        ),
    )


async def serve(port: int, db: str) -> None:
    from aiohttp import web

    from admin.tracking import make_public_app
    from policy.engagement import FLUSH_EVERY, RETRY_AT_MOST, EngagementRecorder
    from policy.links import KeyRing
    from policy.store.sqlite import SqliteStore
    from scheduler.supervisor import Supervisor

    store = SqliteStore(db)
    await store.open()
    engagement = EngagementRecorder(store)
    tasks = Supervisor()
    # As the daemon's public part schedules its writer (gateway.parts.public_http).
    tasks.flusher(
        "engagement",
        FLUSH_EVERY,
        engagement.flush,
        retry_at_most=RETRY_AT_MOST,
        final=lambda: engagement.flush(everything=True),
    )
    fixed = tenants()

    async def unsubscribe(tenant: str, address: str, source: str) -> None:
        return None

    app = make_public_app(KeyRing(lambda: fixed), engagement.add, unsubscribe)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    print("ready", flush=True)
    await stop.wait()
    await runner.cleanup()
    await tasks.stop()  # the writer's final flush included
    await store.close()
    print(json.dumps({"dropped": engagement.dropped}), flush=True)


def paths(kind: str) -> list[str]:
    if kind == "healthz":
        return ["/healthz"]
    keys = TokenKeys([SECRET])
    sent = int(time.time()) - 3600
    out = []
    for i in range(RECIPIENTS):
        ref = message_ref("spring-sale", f"<{sent}.{i:06x}@acme-mail.com>")
        rcpt = f"reader{i}@example.net"
        if kind == "click":
            url = f"https://shop.example.com/products/item-{i % 60:03d}?utm_source=newsletter"
            out.append(
                "/t/c/" + issue(keys, "click", "bench", ref, rcpt, i % 60, url, issued_at=sent)
            )
        else:
            out.append("/t/o/" + issue(keys, "open", "bench", ref, rcpt, issued_at=sent) + ".gif")
    return out


async def drive(port: int, targets: list[str], count: int, seconds: float, conc: int) -> dict:
    """``count`` requests over ``conc`` keep-alive connections, or until ``seconds`` pass."""
    requests = [
        f"GET {p} HTTP/1.1\r\nHost: t.acme-mail.com\r\nUser-Agent: {AGENT}\r\n\r\n".encode()
        for p in targets
    ]
    return await http_load.drive(port, requests, count, seconds, conc, ok=(b"200", b"302"))


async def run(args: argparse.Namespace) -> list[tuple[str, dict]]:
    port = free_port()
    folder = Path(tempfile.mkdtemp(prefix="sluice-bench-tracking-"))
    db = str(folder / "bench.db")
    server = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--serve", str(port), db, stdout=asyncio.subprocess.PIPE
    )
    try:
        assert server.stdout is not None and (await server.stdout.readline()).strip() == b"ready"
        results = []
        for kind in ("healthz", "click", "open"):
            targets = paths(kind)
            await drive(port, targets, args.warmup, args.seconds, args.concurrency)
            results.append(
                (kind, await drive(port, targets, args.requests, args.seconds, args.concurrency))
            )
    finally:
        server.send_signal(signal.SIGTERM)
        out, _ = await asyncio.wait_for(server.communicate(), 60)
    stats = json.loads(out.decode().strip().splitlines()[-1])
    with sqlite3.connect(db) as conn:
        counts = dict(conn.execute("SELECT kind, count(*) FROM engagement GROUP BY kind"))
    shutil.rmtree(folder)
    for kind, result in results:
        if kind != "healthz":
            result["events"] = counts.get(kind, 0)
            result["dropped"] = stats["dropped"]
    return results


def report(results: list[tuple[str, dict]], args: argparse.Namespace) -> str:
    health = dict(results)["healthz"]["rps"]
    lines = [
        f"concurrency {args.concurrency}, up to {args.requests} requests or {args.seconds:g} s "
        f"per path, after {args.warmup} warm-up requests",
        "",
        "| path | requests | req/s | vs /healthz | p50 / p99 ms | errors | events written"
        " | target |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for kind, r in results:
        verdict = "-"
        if kind != "healthz":
            verdict = ("PASS" if r["rps"] >= TARGET else "FAIL") + f" (>= {TARGET:,.0f}/s)"
        lines.append(
            f"| {kind} | {r['requests']} | {r['rps']} | {r['rps'] / health:.2f} | "
            f"{r['p50_ms']} / {r['p99_ms']} | {r['errors']} | {r.get('events', '-')} | {verdict} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=60_000)
    parser.add_argument("--warmup", type=int, default=3_000)
    parser.add_argument("--seconds", type=float, default=30.0, help="cap per path")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--serve", nargs=2, metavar=("PORT", "DB"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    runner = http_load.loop_runner()
    if args.serve:
        runner(serve(int(args.serve[0]), args.serve[1]))
        return
    text = report(runner(run(args)), args)
    print(text)
    results = Path(__file__).parent / "results"
    results.mkdir(exist_ok=True)
    (results / f"tracking-{time.strftime('%Y%m%d-%H%M%S')}.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
