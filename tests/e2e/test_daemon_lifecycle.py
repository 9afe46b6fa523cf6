"""What systemd hears from the daemon over its lifetime (sd_notify), drain included."""

from __future__ import annotations

import asyncio
import signal
import socket
from pathlib import Path

import pytest

from tests.e2e.test_daemon import begin_data, write_config
from tests.support.daemon import Daemon
from tests.support.harness import make_keys, message

pytestmark = pytest.mark.slow


class Systemd:
    """A notify socket that keeps every datagram sent to it, in order."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.setblocking(False)
        self.heard: list[str] = []
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            self.heard.append((await loop.sock_recv(self.sock, 4096)).decode())

    async def until(self, done, within: float = 10.0) -> None:
        for _ in range(int(within * 100)):
            if done(self.heard):
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"not heard in time: {self.heard}")

    def close(self) -> None:
        self.reader.cancel()
        self.sock.close()


def after(heard: list[str], state: str) -> list[str]:
    """What was heard after the last message starting with ``state``."""
    last = max(i for i, text in enumerate(heard) if text.startswith(state))
    return heard[last + 1 :]


async def test_ready_reload_watchdog_through_the_drain_then_stopping(tmp_path, sink):
    make_keys(tmp_path)
    path, smtp, _ = write_config(tmp_path, sink.port)
    systemd = Systemd(tmp_path / "notify")
    env = {"NOTIFY_SOCKET": str(systemd.path), "WATCHDOG_USEC": "200000"}  # a ping each 0.1 s
    d = await Daemon.start(["run", "-c", str(path)], cwd=tmp_path, env=env)
    try:
        await systemd.until(lambda h: any(t.startswith("READY=1\nSTATUS=serving SMTP") for t in h))
        await systemd.until(lambda h: after(h, "READY=1").count("WATCHDOG=1") >= 2)

        d.signal(signal.SIGHUP)
        await systemd.until(lambda h: any(t.startswith("RELOADING=1\nMONOTONIC_USEC=") for t in h))
        await systemd.until(lambda h: "READY=1" in after(h, "RELOADING=1"))

        inflight = await begin_data(smtp)
        d.signal(signal.SIGTERM)
        await systemd.until(lambda h: "STOPPING=1" in h)
        # The loop is still fed while a transaction drains: systemd must not kill it.
        await systemd.until(lambda h: after(h, "STOPPING=1").count("WATCHDOG=1") >= 2)
        reply = await inflight.send_raw(message(to="inflight@example.net")[60:] + b"\r\n.\r\n")
        assert reply.startswith("250"), reply
        assert await d.wait() == 0
        assert "READY=1" not in after(systemd.heard, "STOPPING=1")
        assert not any("round failed" in line for line in d.log), d.log
        assert d.log[-1].endswith("stopped")
    finally:
        systemd.close()
        await d.stop()
