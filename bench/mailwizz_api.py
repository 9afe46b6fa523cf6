"""Measure how fast the notification worker drains MailWizz API unsubscribes.

    python bench/mailwizz_api.py [--items 500] [--delay 0.02] [--runs 5]

A stand-in MailWizz (``tests.support.mailwizz``) runs in a child process on
loopback, every address subscribed in two lists, each request taking
``--delay`` seconds (MailWizz's PHP and MySQL). The daemon's own
``Notifier`` then drains ``--items`` queued unsubscribes from a SQLite store
in a temporary folder: per item one all-lists search and two unsubscribes.
Each run is timed with ``API_CONCURRENCY`` 1 (one item after another) and
the shipped value, in the same run, and the child's count of unsubscribes is
checked (two per item, none twice). Prints the median items/s of each and
the time a full claimed batch (500 items) takes, which must stay under the
worker's deadline (0.75 of the 120 s lease). Bounded: at most 5,000 items;
nothing leaves the machine; the child is stopped by its PID.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import signal
import statistics
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import aiohttp  # noqa: E402

from conf import parse  # noqa: E402
from policy.store.sqlite import SqliteStore  # noqa: E402
from scheduler import notify as worker  # noqa: E402
from scheduler.feedback_service import FeedbackService  # noqa: E402
from tests.support import mailwizz  # noqa: E402

MAX_ITEMS = 5000


def serve(items: int, delay: float, port: multiprocessing.Queue, counts: multiprocessing.Queue):
    """The child: MailWizz on loopback until SIGTERM, then how many unsubscribes it took."""

    async def main() -> None:
        mw = mailwizz.MailWizz(delay=delay)
        for i in range(items):
            for list_uid in ("lista", "listb"):
                mw.subscribe(list_uid, f"reader{i}@example.net", f"s{i}{list_uid}")
        await mw.start()
        port.put(mw.port)
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()
        puts = [c.path for c in mw.unsubscribes()]
        counts.put((len(puts), len(set(puts))))
        await mw.stop()

    asyncio.run(main())


async def drain(folder: Path, url: str, items: int, concurrency: int, offset: int) -> float:
    """Seconds to send ``items`` queued unsubscribes with ``concurrency`` in flight."""
    text = f"""
    tenants:
      - name: acme
        pool: p
        trusted_networks: [127.0.0.1/32]
        sender_domains: [acme-mail.com]
        unsubscribe:
          headers: keep
          mailwizz: {{api_url: "{url}", api_key: "{mailwizz.API_KEY}"}}
    pools: {{p: [{{ip: 192.0.2.10, vmta: p1, hostname: mta1.example}}]}}
    feedback: {{inbox: "{folder}/inbox"}}
    """
    settings = parse(textwrap.dedent(text), environ={})
    store = SqliteStore(str(folder / f"s{concurrency}-{offset}.db"))
    await store.open()
    service = FeedbackService(store, lambda: settings)
    rows = []
    for i in range(offset, offset + items):
        rows += service.notifier.unsubscribe_rows("acme", f"reader{i}@example.net", "link")
    await store.enqueue_notifications(rows, time.time())
    worker.API_CONCURRENCY = concurrency
    try:
        async with aiohttp.ClientSession() as http:
            started = time.perf_counter()
            while await store.pending_notifications():
                if not await service.notifier.send_due(http):
                    raise RuntimeError("items left that are not due: a request failed")
            return time.perf_counter() - started
    finally:
        await store.close()


async def bench(args: argparse.Namespace, url: str, folder: Path) -> dict[int, list[float]]:
    shipped = worker.API_CONCURRENCY
    results: dict[int, list[float]] = {1: [], shipped: []}
    offset = 0
    for _ in range(args.runs):
        for concurrency in results:
            seconds = await drain(folder, url, args.items, concurrency, offset)
            results[concurrency].append(args.items / seconds)
            offset += args.items
    worker.API_CONCURRENCY = shipped
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=500)
    parser.add_argument("--delay", type=float, default=0.02, help="seconds per MailWizz request")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    args.items = max(1, min(args.items, MAX_ITEMS))
    args.runs = max(1, min(args.runs, 20))
    total = args.items * args.runs * 2
    ports: multiprocessing.Queue = multiprocessing.Queue()
    counts: multiprocessing.Queue = multiprocessing.Queue()
    child = multiprocessing.Process(target=serve, args=(total, args.delay, ports, counts))
    child.start()
    try:
        port = ports.get(timeout=60)
        with tempfile.TemporaryDirectory() as tmp:
            results = asyncio.run(bench(args, f"http://127.0.0.1:{port}/api", Path(tmp)))
    finally:
        if child.pid is not None:
            os.kill(child.pid, signal.SIGTERM)
    puts, distinct = counts.get(timeout=60)
    child.join(timeout=10)
    print(f"{args.items} items x {args.runs} runs, {args.delay * 1000:.0f} ms per MailWizz request")
    for concurrency, rates in results.items():
        median = statistics.median(rates)
        print(
            f"API_CONCURRENCY={concurrency}: median {median:,.0f} items/s"
            f" (runs: {', '.join(f'{r:,.0f}' for r in rates)});"
            f" a 500-item batch in {500 / median:.1f} s"
        )
    one, shipped = (statistics.median(r) for r in results.values())
    print(f"ratio {shipped / one:.2f}x; unsubscribes received {puts:,}, distinct {distinct:,}")
    return 0 if puts == distinct == 2 * total else 1


if __name__ == "__main__":
    sys.exit(main())
