"""How long a Prometheus scrape of the admin listener's ``/metrics`` takes.

One server process builds what a busy deployment exposes and serves the admin
app as the daemon builds it: 10 tenants with one pool each, 20 IPs per pool
(200 IPs: half warming on the standard schedule, so each has day, hour and
provider-group quotas; half warm with a daily limit; a few paused or
quarantined), quota counters reserved on every IP, 100,000 suppressed
addresses in the policy mirror, and the gateway's, scheduler's and tracking
counters touched for every tenant, pool, IP, step, reason and task. A client
process then times sequential ``GET /metrics`` over loopback HTTP, each one
recomputing the quotas, IP states and suppression sizes before rendering.

    .venv/bin/python bench/metrics_scrape.py                      # in-process counters
    .venv/bin/python bench/metrics_scrape.py --redis redis://127.0.0.1:6379/0
    .venv/bin/python bench/metrics_scrape.py --freeze                   # gc.freeze() once loaded
    .venv/bin/python bench/metrics_scrape.py --scrapes 500 --suppressed 1000000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import re
import shutil
import signal
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from procs import terminate  # noqa: E402

TARGET_MS = 100.0
TENANTS = 10
IPS_PER_POOL = 20
REDIS_PREFIX = "sluice-bench-scrape-"


def config_text(redis: str | None) -> str:
    today = date.today()
    lines = ["tenants:"]
    zones = ("UTC", "Europe/Paris", "America/New_York", "Asia/Tokyo", "Europe/London")
    for t in range(TENANTS):
        lines.append(
            f"  - {{name: tenant{t}, pool: pool{t}, sender_domains: [t{t}.example],"
            f' trusted_networks: ["10.{t}.0.0/16"], timezone: {zones[t % len(zones)]}}}'
        )
    lines.append("pools:")
    for t in range(TENANTS):
        lines.append(f"  pool{t}:")
        for i in range(IPS_PER_POOL):
            ip = f"192.0.{t}.{10 + i}"
            base = f"ip: {ip}, vmta: p{t}-{i}, hostname: mta{i}.t{t}.example"
            if i % 2 == 0:
                started = (today - timedelta(days=i)).isoformat()
                lines.append(f'    - {{{base}, warmup: {{started: "{started}"}}}}')
            else:
                lines.append(f"    - {{{base}, daily_limit: {50_000 + i * 1000}}}")
    if redis:
        lines.append(f'redis: "{redis}"\nredis_prefix: "{REDIS_PREFIX}{os.getpid()}:"')
    return "\n".join(lines) + "\n"


async def populate(settings, store, counters, suppressed: int) -> object:
    """IP records, reservations, suppression and every counter family's label sets."""
    from admin.api import AdminContext
    from gateway import metrics as gw
    from policy import keys, view
    from policy.counters import Limit
    from policy.engagement import KINDS
    from policy.metrics import ENGAGEMENT
    from policy.quota import calendar, operations
    from policy.suppression import Suppression
    from policy.view import PolicyView
    from scheduler import metrics as sched
    from scheduler import warmup_clock

    now = datetime.now(UTC)
    await warmup_clock.tick(settings, store, now)  # every IP gets its stored record
    for t in range(0, TENANTS, 3):
        await operations.ip_action(
            settings, store, f"192.0.{t}.11", "pause", actor="bench", now=now
        )
        await operations.ip_action(
            settings, store, f"192.0.{t}.13", "quarantine", actor="bench", now=now
        )
    rows = await operations.quotas(settings, store, now, counters=counters)
    for row in rows:
        limits = []
        local = now.astimezone(ZoneInfo(calendar.pool_zone(settings, row.pool)))
        limits.append(Limit(keys.day(row.ip, local.date()), 10**6, 86400))
        limits.append(Limit(keys.hour(row.ip, local.date(), local.hour), 10**6, 3600))
        for group in row.groups:
            limits.append(Limit(keys.day(row.ip, local.date(), group), 10**6, 86400))
        for _ in range(3):
            await counters.reserve(limits)
    # Spread over the tenants and the global list ("").
    names = [f"tenant{t}" for t in range(TENANTS)] + [""]
    entries = [
        Suppression(names[i % len(names)], f"a{i}@ex.org", "manual") for i in range(suppressed)
    ]
    for i in range(0, len(entries), 10_000):
        await store.suppress(entries[i : i + 10_000])
    mirror = PolicyView()
    await view.refresh(mirror, store)

    results = ("relayed", "deferred", "rejected", "possible_duplicate")
    steps = (
        ("rcpt.suppression", "550", "5.7.1"),
        ("rcpt.warmup_quota", "451", "4.7.1"),
        ("rcpt.warmup_quota", "452", "4.5.3"),
        ("data.relay", "451", "4.4.1"),
        ("data.relay", "550", "5.1.1"),
        ("mail.sender_domain", "550", "5.7.1"),
    )
    reasons = ("userunknown", "hostunknown", "mailboxfull", "blocked", "badreputation", "expired")
    for tenant in settings.tenants:
        for ip in settings.pools[tenant.pool]:
            for result in results:
                gw.count_message(tenant.name, tenant.pool, ip.ip, result)
        for step, code, enhanced in steps:
            gw.REFUSALS.labels(tenant.name, step, "deferred" if code[0] == "4" else "rejected",
                               enhanced).inc()  # fmt: skip
            gw.STEP_VERDICTS.labels(step, code).inc()
        for reason in reasons:
            sched.FEEDBACK.labels(tenant.name, "bounced", reason).inc()
        sched.FEEDBACK.labels(tenant.name, "complained", "feedback").inc()
        for kind in KINDS:
            for label in ("human", "machine"):
                ENGAGEMENT.labels(tenant.name, kind, label).inc()
    for outcome in results:
        gw.observe_downstream(outcome, 0.02)
    gw.RELAY_SECONDS.observe(0.05)
    for task in ("warmup-clock", "inbox", "accounting", "ip-health", "notify"):
        sched.task_succeeded(task, 60.0)
    return AdminContext(settings=lambda: settings, store=store, counters=counters, policy=mirror)


async def serve(args: argparse.Namespace) -> None:
    from aiohttp import web

    from admin.app import make_app
    from conf import parse
    from gateway import runtime
    from policy.store import open_store

    folder = Path(args.folder)
    settings = parse(
        config_text(args.redis) + f'database: "sqlite:///{folder}/sluice.db"\n', environ={}
    )
    store = open_store(settings.database)
    await store.open()
    counters = runtime.open_counters(settings)
    ctx = await populate(settings, store, counters, args.suppressed)
    if args.freeze:
        # What a daemon could do once its mirror is loaded: the collector's full
        # passes then skip every object alive at this point.
        gc.collect()
        gc.freeze()
    runner = web.AppRunner(make_app({}, ctx=ctx), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    print(f"port {site._server.sockets[0].getsockname()[1]}", flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await runner.cleanup()
    await counters.close()
    if settings.redis:
        await clean_redis(settings.redis, settings.redis_prefix)
    await store.close()


async def clean_redis(url: str, prefix: str) -> None:
    """Delete the keys this run wrote under its own prefix, and only those."""
    import redis.asyncio as aioredis

    client = aioredis.from_url(url)
    try:
        keys = [k async for k in client.scan_iter(match=prefix + "*", count=1000)]
        for i in range(0, len(keys), 500):
            await client.delete(*keys[i : i + 500])
    finally:
        await client.aclose()


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def main(args: argparse.Namespace) -> int:
    folder = Path(tempfile.mkdtemp(prefix="sluice-bench-scrape-"))
    command = [sys.executable, __file__, "--serve", "--folder", str(folder),
               "--suppressed", str(args.suppressed)]  # fmt: skip
    if args.redis:
        command += ["--redis", args.redis]
    if args.freeze:
        command.append("--freeze")
    server = await asyncio.create_subprocess_exec(*command, stdout=asyncio.subprocess.PIPE)
    try:
        assert server.stdout is not None
        line = await asyncio.wait_for(server.stdout.readline(), 300)
        if not line.startswith(b"port "):
            sys.exit("the server process did not start")
        url = f"http://127.0.0.1:{int(line.split()[1])}/metrics"
        times, refresh, body = [], [], b""
        async with aiohttp.ClientSession() as http:
            for i in range(args.warmup + args.scrapes):
                started = time.perf_counter()
                async with http.get(url) as resp:
                    body = await resp.read()
                elapsed = time.perf_counter() - started
                if resp.status != 200:
                    sys.exit(f"/metrics answered {resp.status}")
                if i >= args.warmup:
                    times.append(elapsed * 1000)
                    found = re.search(rb"^sluice_metrics_refresh_seconds ([0-9.e+-]+)$", body, re.M)
                    refresh.append(float(found[1]) * 1000 if found else float("nan"))
                await asyncio.sleep(args.pause)
    finally:
        await terminate(server, timeout=10)
        shutil.rmtree(folder, ignore_errors=True)
    series = sum(1 for line in body.splitlines() if line and not line.startswith(b"#"))
    ips = sum(1 for line in body.splitlines() if line.startswith(b"sluice_ip_warmup_day{"))
    median = statistics.median(times)
    p99 = percentile(times, 99)
    verdict = "pass" if p99 < TARGET_MS else "FAIL"
    counters = "Redis" if args.redis else "in-process"
    frozen = ", gc.freeze() after loading" if args.freeze else ""
    print(
        f"\n{args.scrapes} scrapes ({args.warmup} warm-up), {ips} IPs, {TENANTS} tenants,"
        f" {args.suppressed:,} suppressed, {counters} counters{frozen}\n"
        f"body {len(body) / 1024:.0f} KiB, {series} series\n"
        f"| | median ms | p90 ms | p99 ms | max ms |\n|---|---:|---:|---:|---:|\n"
        f"| GET /metrics | {median:.1f} | {percentile(times, 90):.1f} | {p99:.1f} |"
        f" {max(times):.1f} |\n"
        f"| of which refresh (server side) | {statistics.median(refresh):.1f} |"
        f" {percentile(refresh, 90):.1f} | {percentile(refresh, 99):.1f} | {max(refresh):.1f} |\n"
        f"\np99 target < {TARGET_MS:.0f} ms: {verdict}"
    )
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scrapes", type=int, default=200)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--pause", type=float, default=0.05, help="seconds between scrapes")
    p.add_argument("--suppressed", type=int, default=100_000)
    p.add_argument("--redis", default=None, help="Redis URL for shared counters")
    p.add_argument("--freeze", action="store_true", help="gc.freeze() once the server is loaded")
    p.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--folder", help=argparse.SUPPRESS)
    return p.parse_args(argv)


if __name__ == "__main__":
    options = parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        if options.serve:
            asyncio.run(serve(options))
        else:
            sys.exit(asyncio.run(main(options)))
