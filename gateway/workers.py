"""The extra SMTP workers (``smtp.workers`` > 1): forked, watched, signalled, reaped.

The first process forks them before any event loop exists; each serves SMTP
on the shared port (SO_REUSEPORT) and the first runs everything else. It
tells them of a reload (SIGHUP) and of the end (SIGTERM, once), notices one
that dies, and waits for them last of all at shutdown.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
from dataclasses import dataclass, field

from gateway import metrics

log = logging.getLogger("sluice.daemon")


@dataclass
class Workers:
    children: list[int] = field(default_factory=list)
    told: bool = False  # SIGTERM was sent: their exits are a shutdown, not deaths

    def forward(self, sig: signal.Signals) -> None:
        for pid in self.children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)

    def stop(self) -> None:
        """Tell them to drain and exit (once: a second SIGTERM could cut a worker's shutdown)."""
        if not self.told:
            self.told = True
            self.forward(signal.SIGTERM)

    def watch(self) -> None:
        """One round of the watch: log each worker that exited and drop its live gauges.

        The others keep serving on the shared port; the operator hears of it.
        """
        if self.told:
            return  # they were told to stop: reap() waits for them
        for pid in list(self.children):
            status: int | None
            try:
                done, status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:  # reaped elsewhere: gone all the same
                done, status = pid, None
            if done:
                self.children.remove(pid)
                metrics.worker_exited(pid)
                log.error(
                    "SMTP worker pid=%d exited (%s); %d process(es) still serve SMTP",
                    pid,
                    _exit_text(status),
                    1 + len(self.children),
                )

    def reap(self) -> None:
        """Wait for every worker to exit (blocking: run it in a thread); stops them first."""
        self.stop()
        for pid in self.children:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        self.children.clear()


def fork(count: int) -> tuple[bool, Workers]:
    """Fork ``count`` SMTP-only workers before any event loop exists.

    (True, no workers) in a child; (False, the children) in the first process.
    """
    children = []
    for _ in range(count):
        pid = os.fork()
        if pid == 0:
            return True, Workers()
        children.append(pid)
    return False, Workers(children)


def _exit_text(status: int | None) -> str:
    if status is None:
        return "status unknown"
    if os.WIFSIGNALED(status):
        return f"killed by {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exit status {os.waitstatus_to_exitcode(status)}"
