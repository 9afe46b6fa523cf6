"""A bounded HTTP load: keep-alive connections replaying raw requests, latencies measured."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable, Coroutine
from typing import Any


async def drive(
    port: int,
    requests: list[bytes],
    count: int,
    seconds: float,
    conc: int,
    ok: tuple[bytes, ...] = (b"200",),
) -> dict:
    """``count`` requests (cycling through ``requests``) over ``conc`` connections to
    127.0.0.1:``port``, or until ``seconds`` pass; an answer whose status is not in ``ok``
    counts as an error."""
    issued = 0
    latencies: list[float] = []
    errors = 0
    size = 0
    deadline = time.monotonic() + seconds

    async def connection() -> None:
        nonlocal issued, errors, size
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while issued < count and time.monotonic() < deadline:
                request = requests[issued % len(requests)]
                issued += 1
                started = time.perf_counter()
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length:", 1)[1].split(b"\r\n", 1)[0])
                await reader.readexactly(length)
                latencies.append(time.perf_counter() - started)
                size = length
                if head[9:12] not in ok:
                    errors += 1
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(conc)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "requests": len(latencies),
        "errors": errors,
        "bytes": size,
        "seconds": round(elapsed, 2),
        "rps": round(len(latencies) / elapsed),
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p99_ms": round(latencies[max(0, int(len(latencies) * 0.99) - 1)] * 1000, 2),
    }


def loop_runner() -> Callable[[Coroutine[Any, Any, Any]], Any]:
    """uvloop's ``run`` when installed (as the daemon runs), else ``asyncio.run``."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run
    return uvloop.run
