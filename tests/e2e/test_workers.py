"""SMTP workers that die are replaced; workers whose parent dies stop serving."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

from tests.e2e.test_daemon import start_two_workers
from tests.support.harness import send
from tests.support.wait import until


def gone(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status")
    try:
        return "zombie" in status.read_text()
    except FileNotFoundError:
        return True


async def test_a_dead_worker_is_replaced(tmp_path, sink):
    d, smtp, _, pids = await start_two_workers(tmp_path, sink.port)
    try:
        [worker] = pids - {d.proc.pid}
        os.kill(worker, signal.SIGKILL)
        await d.wait_for_log(f"pid={worker} exited (killed by SIGKILL)")
        line = await d.wait_for_log("started in place of one that exited", timeout=15)
        replacement = int(line.split("pid=")[1].split()[0])
        assert replacement not in pids and not gone(replacement)
        # The replacement serves: it says so, and mail keeps flowing on the shared port.
        await d.wait_for_log("sluice ready", timeout=30, count=3)
        results = await asyncio.gather(*(send(smtp, to=f"r{i}@example.net") for i in range(10)))
        assert [code for code, _ in results] == [250] * 10
        d.signal(signal.SIGTERM)
        assert await d.wait() == 0
        await until(lambda: gone(replacement), what="the replacement stopped with the daemon")
    finally:
        await d.stop()


async def test_workers_stop_when_their_parent_is_killed(tmp_path, sink):
    d, smtp, _, pids = await start_two_workers(tmp_path, sink.port)
    try:
        [worker] = pids - {d.proc.pid}
        os.kill(d.proc.pid, signal.SIGKILL)
        await asyncio.wait_for(d.proc.wait(), 10)
        await until(lambda: gone(worker), timeout=15, what="the orphaned worker exited")
        # Nothing answers on the port any more: no headless worker takes mail.
        try:
            code, _ = await send(smtp, to="late@example.net")
        except OSError:
            code = None
        assert code is None
    finally:
        await d.stop()
