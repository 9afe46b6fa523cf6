"""The daemon as a subprocess: start it, wait until it serves, signal it by PID."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from tests.support import backends
from tests.support.wait import until

ROOT = Path(__file__).resolve().parents[2]


async def require_free(*ports: int) -> None:
    """Fixed ports (the embedded default's) must be free: skip here when one is taken, fail on CI.

    CI runs nothing else on these ports, so a taken one there is a fault to see, not
    a reason to leave the quick-start tests out silently.
    """
    for port in ports:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            continue
        writer.close()
        backends.unavailable(f"port {port} is in use on this machine")


_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A loopback port free now and never handed out before in this test process.

    The kernel may give a just-closed port again on the next bind, so two calls
    before either daemon binds could name the same port twice.
    """
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


@dataclass
class Daemon:
    proc: asyncio.subprocess.Process
    log: list[str] = field(default_factory=list)
    reader: asyncio.Task | None = None

    @classmethod
    async def start(
        cls,
        args: list[str],
        cwd: Path,
        env: dict[str, str] | None = None,
        timeout: float = 30,
        *,
        clock: datetime | None = None,
    ) -> Daemon:
        """Run ``sluice ARGS``; with `clock`, on a wall clock that starts then (clocked_cli)."""
        environ = {
            k: v for k, v in os.environ.items() if k not in ("SLUICE_CONFIG", "NOTIFY_SOCKET")
        }
        environ.update(env or {})
        environ["PYTHONPATH"] = str(ROOT)
        launcher = ["gateway.cli"]
        if clock is not None:
            launcher = ["tests.support.clocked_cli", clock.isoformat()]
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            *launcher,
            *args,
            cwd=cwd,
            env=environ,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            # Its own process group, so stop() also reaches workers it forked.
            start_new_session=True,
        )
        daemon = cls(proc)
        ready = asyncio.get_running_loop().create_future()
        daemon.reader = asyncio.create_task(daemon._read(ready))
        try:
            await asyncio.wait_for(ready, timeout)
        except (TimeoutError, EOFError):
            await daemon.stop()
            raise RuntimeError("daemon did not start:\n" + "\n".join(daemon.log)) from None
        return daemon

    async def _read(self, ready: asyncio.Future) -> None:
        assert self.proc.stdout is not None
        async for raw in self.proc.stdout:
            line = raw.decode(errors="replace").rstrip()
            self.log.append(line)
            if "sluice ready" in line and not ready.done():
                ready.set_result(True)
        if not ready.done():
            ready.set_exception(EOFError())

    def signal(self, sig: int) -> None:
        os.kill(self.proc.pid, sig)

    async def wait(self, timeout: float = 30) -> int:
        code = await asyncio.wait_for(self.proc.wait(), timeout)
        if self.reader is not None:
            await asyncio.wait_for(self.reader, 5)
        return code

    async def wait_for_log(self, text: str, timeout: float = 10, count: int = 1) -> str:
        """The first log line with `text`, once `count` lines have it."""

        def lines() -> list[str]:
            return [x for x in self.log if text in x]

        try:
            return (await until(lines, done=lambda found: len(found) >= count, timeout=timeout))[0]
        except AssertionError:
            raise AssertionError(
                f"not {count} log lines with {text!r}:\n" + "\n".join(self.log)
            ) from None

    async def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        if self.proc.returncode is None:
            await self.proc.wait()
        if self.reader is not None:
            self.reader.cancel()
