"""How long one message's tracking rewrite and DKIM signature hold the event loop.

For each size, the rewrite and signature of one HTML message run inline
(as before) and through ``gateway.steps.offload`` (a worker thread over
256 KB), while a probe task wakes every 5 ms and records how late it woke:
the longest stall another SMTP session would have seen.

    .venv/bin/python bench/loop_lag.py
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from gateway import dkim
from gateway.steps import offload
from gateway.tracking import TrackingPlan, rewrite

LINE = '<p>Spring sale <a href="https://shop.example.com/tents?id=42">tents</a> now on</p>\r\n'


def message(size: int) -> bytes:
    head = (
        "From: Acme <news@acme-mail.com>\r\nTo: <a@example.net>\r\nSubject: Big\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
    )
    return head.encode() + LINE.encode() * max(1, size // len(LINE))


async def worst_lag(work) -> tuple[float, float]:
    """(the longest stall of the loop, the wall time) while ``work()`` runs."""
    worst, stop = [0.0], asyncio.Event()

    async def probe() -> None:
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            before = loop.time()
            await asyncio.sleep(0.005)
            worst[0] = max(worst[0], loop.time() - before - 0.005)

    task = asyncio.ensure_future(probe())
    await asyncio.sleep(0.02)
    started = time.perf_counter()
    await work()
    wall = time.perf_counter() - started
    stop.set()
    await task
    return worst[0], wall


async def main(sizes: list[int]) -> None:
    folder = Path(tempfile.mkdtemp())
    pem, _ = dkim.generate_key("rsa")
    (folder / "k.pem").write_bytes(pem)
    keys = [dkim.load_key(folder / "k.pem", "acme-mail.com", "s1")]
    plan = TrackingPlan(base_url="https://t.example", make_token=lambda *_: "tok")
    print(f"{'size':>9} {'path':<8} {'worst stall ms':>15} {'wall ms':>9}")
    for size in sizes:
        data = message(size)

        async def inline(data: bytes = data) -> None:
            dkim.sign(rewrite(data, plan) or data, keys)

        async def offloaded(data: bytes = data) -> None:
            changed = await offload.run(len(data), rewrite, data, plan) or data
            await offload.run(len(changed), dkim.sign, changed, keys)

        for name, work in (("inline", inline), ("offload", offloaded)):
            lag, wall = await worst_lag(work)
            print(f"{size:>9} {name:<8} {lag * 1000:>15.1f} {wall * 1000:>9.1f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="65536,262144,1048576,6000000")
    args = parser.parse_args()
    asyncio.run(main([int(x) for x in args.sizes.split(",")]))
