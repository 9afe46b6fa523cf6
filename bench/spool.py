"""The fallback spool: write rate, redelivery rate, time from PowerMTA's return to empty.

With the bench's 20 KB newsletter (one recipient, an X-Virtual-MTA header):

1. write: N messages put into the spool (file fsync + folder fsync each), C
   at once in threads as the relay step does, and one at a time;
2. PowerMTA (Postfix's smtp-sink) is down while the delivery task
   (``scheduler.spool_delivery`` on the supervisor, the real downstream pool
   and breaker, default settings) tries and backs off; then it comes back:
   the time from its return to an empty spool, and the redelivery rate from
   the first message delivered to the last.

    .venv/bin/python bench/spool.py                   # 10,000 messages
    .venv/bin/python bench/spool.py --messages 2000 --outage 3
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mailgen import newsletter, wire_bytes
from procs import free_port
from sink import Sink

from conf import DownstreamSettings
from conf.schema.spool import SpoolSettings
from gateway import downstream
from gateway.spool import Entry, Spool, new_id, read_entry
from scheduler.spool_delivery import SpoolDelivery
from scheduler.supervisor import STEADY, Supervisor


def entry(n: int, size: int) -> Entry:
    return Entry(
        id=new_id(),
        at=time.time(),
        mail_from="news@bench.example",
        recipients=(f"reader{n}@sink.test",),
        tenant="bench",
        ip="192.0.2.10",
        vmta="bench-1",
        message_id=f"<bench-{n}@bench.example>",
        size=size,
    )


async def write(spool: Spool, data: bytes, count: int, concurrency: int) -> float:
    """Messages per second written with ``concurrency`` puts in flight."""
    queue = iter(range(count))

    async def writer() -> None:
        for n in queue:
            await asyncio.to_thread(spool.put, entry(n, len(data)), data)

    started = time.monotonic()
    await asyncio.gather(*(writer() for _ in range(concurrency)))
    return count / (time.monotonic() - started)


async def main(args: argparse.Namespace) -> None:
    data = b"X-Virtual-MTA: bench-1\r\n" + wire_bytes(newsletter())
    folder = Path(tempfile.mkdtemp(prefix="sluice-spool-bench-", dir=args.dir))
    settings = SpoolSettings(
        dir=str(folder), max_messages=args.messages * 2, max_bytes=2**40, retry_interval=1.0
    )
    spool = Spool(settings, owner="bench")
    spool.open()
    single = await write(spool, data, min(500, args.messages), 1)
    spool.remove(spool.rescan())
    rate = await write(spool, data, args.messages, args.concurrency)
    print(f"message: {len(data)} bytes; spool folder {folder}")
    print(f"write, 1 at a time:          {single:8.0f} msg/s")
    print(f"write, {args.concurrency} at once (threads):  {rate:8.0f} msg/s")

    port = free_port()
    pool = downstream.SmtpDownstream(DownstreamSettings(host="127.0.0.1", port=port))

    async def deliver(e: Entry, body: bytes) -> downstream.Result:
        return await pool.send(e.mail_from, e.recipients, body)

    async def report(records: object) -> int:
        raise AssertionError(f"bounced: {records}")

    delivery = SpoolDelivery(spool, read_entry, deliver, report, None, lambda: settings)
    sink = Sink(port)
    async with Supervisor() as tasks:
        tasks.every("spool", 1.0, delivery.round, wake=delivery.wake, backoff=STEADY)
        await asyncio.sleep(args.outage)  # PowerMTA down: rounds fail and back off
        back = time.monotonic()
        await sink.start()
        first = None
        while spool.count:
            if first is None and sink.delivered:
                first = time.monotonic()
            await asyncio.sleep(0.02)
        empty = time.monotonic()
        await sink.wait_for(args.messages, 30)
    await pool.close()
    await sink.stop()
    spool.close()
    shutil.rmtree(folder)
    first = first or empty
    print(f"outage {args.outage:.0f}s, then PowerMTA back: spool of {args.messages} empty after")
    print(f"  {empty - back:6.1f}s from its return ({first - back:.1f}s until the first delivery:")
    print("   the task's backoff and the breaker's reset)")
    print(f"redelivery: {args.messages / max(empty - first, 1e-9):8.0f} msg/s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--outage", type=float, default=5.0, help="seconds PowerMTA is down")
    parser.add_argument("--dir", help="parent of the spool folder (default: the temp dir)")
    asyncio.run(main(parser.parse_args()))
