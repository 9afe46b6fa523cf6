"""What policy costs per message: the relay core against the full policy path.

Two Sluice configurations, measured in the same invocation against the same
sink and message (~20 KB HTML, 60 links, one recipient, DKIM on in both):

    core     one warm IP with no limit, in-process counters: no policy I/O
    policy   Redis counters; a warming IP first (one atomic reservation per
             RCPT, settled after DATA) then a warm one; kill switches and
             100,000 suppressed addresses checked on every transaction

Runs alternate (core, policy, core, policy, ...) so drift in the shared
machine's load hits both alike; the medians and their ratio are reported.
Redis round trips per recipient come from INFO commandstats, taken around
the policy runs (so nothing else may use this Redis while it runs).

    .venv/bin/python bench/policy_cost.py                 # 10,000 messages x 3 runs each
    .venv/bin/python bench/policy_cost.py --messages 2000 --runs 1
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from procs import free_port, terminate  # noqa: E402
from relay import clean_redis, prepare_workdir  # noqa: E402
from servers import Sluice  # noqa: E402
from sink import Sink  # noqa: E402

from policy.store import open_store  # noqa: E402
from policy.suppression import Suppression  # noqa: E402

TARGET_RATIO = 0.85  # policy may cost at most 15 % of the core's throughput
SUPPRESSED = 100_000


async def run_load(
    port: int, message_file: Path, sink: Sink, count: int, concurrency: int
) -> float:
    """`count` messages at `concurrency`; messages per second until the sink has them all."""
    base = sink.delivered
    started = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        "smtp-source", "-d", "-s", str(concurrency), "-m", str(count),
        "-F", str(message_file), "-f", "news@bench.example", "-t", "someone@example.net",
        "-M", "load.bench.test", f"127.0.0.1:{port}",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    timeout = 60 + count / 20
    try:
        _, err = await asyncio.wait_for(proc.communicate(), timeout)
    finally:
        await terminate(proc, timeout=5)
    if proc.returncode != 0:
        raise RuntimeError(f"smtp-source failed: {err.decode()[-300:]}")
    done = await sink.wait_for(base + count, timeout)
    return count / (done - started)


def runs(rates: list[float]) -> str:
    return ", ".join(f"{r:.0f}" for r in rates)


def redis_calls(client: redis.Redis) -> Counter[str]:
    """Commands Redis has executed, by command (INFO commandstats), INFO itself left out."""
    stats = client.info("commandstats")
    return Counter({k.removeprefix("cmdstat_"): v["calls"] for k, v in stats.items()
                    if k != "cmdstat_info"})  # fmt: skip


async def seed_suppression(database: Path) -> None:
    store = open_store(f"sqlite:///{database}")
    await store.open()
    try:
        entries = [
            Suppression("bench", f"gone{i}@example.org", "hard_bounce", "bench")
            for i in range(SUPPRESSED)
        ]
        await store.suppress(entries)
    finally:
        await store.close()


async def main(args: argparse.Namespace) -> int:
    if shutil.which("smtp-source") is None:
        sys.exit("smtp-source not found: apt-get install postfix (do not enable its service)")
    workdir, message_file, _ = prepare_workdir()
    sink = Sink(free_port())
    await sink.start()
    client = redis.Redis.from_url(args.redis)
    core = Sluice(workdir, "core", sink.port)
    policy = Sluice(workdir, "policy", sink.port, redis=args.redis, policy=True)
    await seed_suppression(policy.config.parent / "sluice.db")
    rates: dict[str, list[float]] = {"core": [], "policy": []}
    calls: Counter[str] = Counter()
    try:
        for target in (core, policy):
            await target.start()
            await run_load(target.port, message_file, sink, args.warmup, args.concurrency)
        for _ in range(args.runs):
            for name, target in (("core", core), ("policy", policy)):
                before = redis_calls(client) if name == "policy" else Counter()
                rate = await run_load(
                    target.port, message_file, sink, args.messages, args.concurrency
                )
                if name == "policy":
                    calls += redis_calls(client) - before
                rates[name].append(rate)
                print(f"  {name}: {rate:7.0f} msg/s", flush=True)
    finally:
        for target in (core, policy):
            with contextlib.suppress(Exception):
                await target.stop()
        await sink.stop()
        clean_redis()
        client.close()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    core_rate = statistics.median(rates["core"])
    policy_rate = statistics.median(rates["policy"])
    ratio = policy_rate / core_rate
    per_rcpt = sum(calls.values()) / (args.messages * args.runs)
    breakdown = ", ".join(
        f"{cmd} {n / (args.messages * args.runs):.2f}" for cmd, n in calls.most_common()
    )
    verdict = "pass" if ratio >= TARGET_RATIO else "FAIL"
    print(
        f"\nc={args.concurrency}, {args.messages} messages x {args.runs} runs, DKIM on in both\n"
        f"| configuration | median msg/s | runs |\n|---|---:|---|\n"
        f"| core (no policy I/O) | {core_rate:.0f} | {runs(rates['core'])} |\n"
        f"| policy (Redis, warming IP, {SUPPRESSED:,} suppressed) | {policy_rate:.0f} |"
        f" {runs(rates['policy'])} |\n"
        f"\npolicy/core = {ratio:.2f} (target >= {TARGET_RATIO}: {verdict});"
        f" Redis commands per recipient: {per_rcpt:.2f} ({breakdown})"
    )
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--messages", type=int, default=10_000)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--warmup", type=int, default=500)
    p.add_argument("--concurrency", type=int, default=50)
    p.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    p.add_argument("--keep", action="store_true")
    return p.parse_args(argv)


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(asyncio.run(main(parse_args())))
