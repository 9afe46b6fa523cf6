"""Per-message latency, sampled at a low fixed rate alongside the bulk load.

smtp-source reports no per-message times, so one extra client sends the same
message over its own connection a few times a second and times each
transaction from MAIL FROM to the reply to the final ".". Sluice answers only
after the downstream accepted the message, so its time is the end-to-end
relay time; Postfix answers once the message is safely in its queue.
"""

from __future__ import annotations

import asyncio
import time

import aiosmtplib
from mailgen import RECIPIENT, SENDER


class Probe:
    def __init__(self, port: int, message: bytes, rate: float):
        self.port = port
        self.message = message
        self.interval = 1.0 / rate
        self.latencies_ms: list[float] = []
        self.failures = 0
        self._stop = asyncio.Event()
        self._task: asyncio.Task | None = None

    @property
    def sent(self) -> int:
        return len(self.latencies_ms)

    def start(self, limit: int) -> None:
        self._stop.clear()
        self._task = asyncio.create_task(self._run(limit))

    async def finish(self) -> None:
        """Wait until the probe has sent its ``limit`` messages."""
        if self._task is not None:
            await self._task

    async def stop(self) -> None:
        """Stop after the transaction in flight, so every accepted message is counted."""
        self._stop.set()
        if self._task is not None:
            await self._task

    async def _run(self, limit: int) -> None:
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=self.port, timeout=60,
                                 local_hostname="probe.bench.test")  # fmt: skip
        await client.connect()
        try:
            for _ in range(limit):  # bounded even if nobody calls stop()
                started = time.monotonic()
                try:
                    await client.sendmail(SENDER, [RECIPIENT], self.message)
                except aiosmtplib.SMTPException:
                    self.failures += 1
                else:
                    self.latencies_ms.append((time.monotonic() - started) * 1000)
                # A fixed pace, not a closed loop: a slow reply delays the next send
                # but never makes the probe send faster to catch up.
                pause = max(0.0, self.interval - (time.monotonic() - started))
                try:
                    await asyncio.wait_for(self._stop.wait(), pause)
                    return
                except TimeoutError:
                    pass
        finally:
            try:
                await client.quit()
            except aiosmtplib.SMTPException:
                client.close()
