"""Process bookkeeping from /proc: free ports, process trees, resident memory."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import socket
from pathlib import Path


def free_port() -> int:
    """A loopback TCP port nobody listens on right now.

    Picked below the kernel's ephemeral range (32768+), so no outgoing
    connection of the load can take it between our check and the relay's bind.
    """
    while True:
        port = random.randint(20_000, 32_000)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port


def children(pid: int) -> list[int]:
    """Direct children of ``pid`` (every thread's list, so none is missed)."""
    out: list[int] = []
    with contextlib.suppress(FileNotFoundError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(FileNotFoundError):
                out += [int(c) for c in (task / "children").read_text().split()]
    return out


def tree(pid: int) -> list[int]:
    """``pid`` and all its descendants."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children(p)
    return out


def read_pid(path: Path) -> int:
    return int(path.read_text().split()[0])


def running(pid: int) -> bool:
    """True while ``pid`` exists and has not exited (a zombie waiting to be reaped has)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(errors="replace")
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def status_kb(pid: int, key: str) -> int:
    """A ``kB`` field of /proc/PID/status (VmRSS, VmHWM); 0 once the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def pss_kb(pid: int) -> int:
    """Proportional set size: shared pages split among the processes sharing them."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return 0


def reset_peak(pids: list[int]) -> None:
    """Reset VmHWM to the current RSS (clear_refs value 5), so each phase has its own peak."""
    for pid in pids:
        with contextlib.suppress(OSError):
            Path(f"/proc/{pid}/clear_refs").write_text("5")


class RssSampler:
    """Peak resident memory of a process tree.

    Summing VmHWM covers long-lived processes exactly (Sluice), but Postfix
    forks and retires short-lived daemons, so the tree's VmRSS sum is also
    sampled; the RSS peak is the larger of the two. RSS counts shared library
    pages once per process, which inflates a many-process relay like Postfix,
    so the peak of the summed PSS (shared pages divided among their users) is
    kept too.
    """

    def __init__(self, root: int, interval: float = 0.5):
        self.root = root
        self.interval = interval
        self.rss_kb = 0
        self.pss_kb = 0
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        reset_peak(tree(self.root))
        self.rss_kb = self.pss_kb = 0
        self._task = asyncio.create_task(self._sample())

    async def _sample(self) -> None:
        while True:
            pids = tree(self.root)
            self.rss_kb = max(self.rss_kb, sum(status_kb(p, "VmRSS") for p in pids))
            self.pss_kb = max(self.pss_kb, sum(pss_kb(p) for p in pids))
            await asyncio.sleep(self.interval)

    async def stop(self) -> tuple[float, float]:
        """Stop sampling; the peak RSS and peak PSS in MB."""
        hwm = sum(status_kb(p, "VmHWM") for p in tree(self.root))
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        return max(hwm, self.rss_kb) / 1024, self.pss_kb / 1024


async def terminate(proc: asyncio.subprocess.Process, timeout: float = 30.0) -> None:
    """SIGTERM one process we started, by its PID; SIGKILL it if it does not go."""
    if proc.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, signal.SIGTERM)
    try:
        await asyncio.wait_for(proc.wait(), timeout)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
        await proc.wait()
