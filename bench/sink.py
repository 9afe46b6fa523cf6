"""Postfix's smtp-sink as the final destination, with a live count of delivered messages.

smtp-sink is written in C and costs next to nothing per message, so it does not
compete with the relay under test for the machine's two cores. With ``-c`` it
writes ``sess=N quit=N mesg=N`` after every event, separated by carriage
returns; ``mesg`` counts the messages it has accepted since it started.
"""

from __future__ import annotations

import asyncio
import re
import time

from procs import terminate

COUNTER = re.compile(rb"mesg=(\d+)")


class Sink:
    def __init__(self, port: int):
        self.port = port
        self.delivered = 0
        self._proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task | None = None
        self._target = 0
        self._reached = asyncio.Event()
        self.reached_at = 0.0

    async def start(self) -> None:
        # -u nobody: smtp-sink refuses to run as root; 1024 is the listen backlog.
        self._proc = await asyncio.create_subprocess_exec(
            "smtp-sink", "-c", "-u", "nobody", "-m", "1024", f"127.0.0.1:{self.port}", "1024",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        self._reader = asyncio.create_task(self._read())
        await wait_listening(self.port)

    async def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        tail = b""
        while chunk := await self._proc.stdout.read(65536):
            # Keep the last partial record so a counter split across reads is not misread.
            data = tail + chunk
            cut = data.rfind(b"\r")
            records, tail = data[: cut + 1], data[cut + 1 :]
            found = COUNTER.findall(records)
            if found:
                self.delivered = int(found[-1])
                if self._target and self.delivered >= self._target and not self._reached.is_set():
                    self.reached_at = time.monotonic()
                    self._reached.set()

    async def wait_for(self, count: int, timeout: float) -> float:
        """Wait until ``count`` messages in all have arrived; the monotonic time they had."""
        self._target = count
        self._reached.clear()
        if self.delivered >= count:
            return time.monotonic()
        await asyncio.wait_for(self._reached.wait(), timeout)
        return self.reached_at

    async def stop(self) -> None:
        if self._proc is not None:
            await terminate(self._proc, timeout=5)
        if self._reader is not None:
            self._reader.cancel()


async def wait_listening(port: int, timeout: float = 10.0) -> None:
    """Wait until something accepts connections on 127.0.0.1:``port``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)
            continue
        writer.close()
        return
