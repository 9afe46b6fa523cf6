"""The extra SMTP workers (``smtp.workers`` > 1): forked, watched, respawned, signalled, reaped.

The first process forks them before any event loop exists; each serves SMTP
on the shared port (SO_REUSEPORT) and the first runs everything else. It
tells them of a reload (SIGHUP) and of the end (SIGTERM, once), notices one
that dies and starts a new one in its place, and waits for them last of all
at shutdown.

A replacement is not forked: the first process by then runs an event loop and
threads, which a fork would copy half-way. It is a fresh interpreter started
with the same command line and ``SLUICE_SMTP_WORKER`` set to the parent's pid,
which makes it serve SMTP only. Replacements come after a delay that doubles
while workers keep dying, so a worker that crashes at start cannot spin.

Every worker asks the kernel for SIGTERM when its parent dies
(``PR_SET_PDEATHSIG``): a parent killed with SIGKILL must not leave workers
serving headless, with nobody running the policy mirror's writers or the
HTTP side.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from gateway import metrics

log = logging.getLogger("sluice.daemon")

WORKER_ENV = "SLUICE_SMTP_WORKER"  # in a replacement worker: its parent's pid
PR_SET_PDEATHSIG = 1  # linux/prctl.h
RESPAWN_FIRST = 1.0  # seconds before the first replacement
RESPAWN_AT_MOST = 60.0
CALM_AFTER = 300.0  # a worker that lived this long resets the delay


def spawn_worker() -> int:
    """A replacement worker: this program again, told to serve SMTP only."""
    env = {**os.environ, WORKER_ENV: str(os.getpid())}
    return os.posix_spawn(sys.executable, sys.orig_argv, env)


def die_with_parent(parent: int) -> None:
    """Have the kernel send SIGTERM when ``parent`` dies (Linux); exit now if it already has."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    except (OSError, AttributeError) as exc:
        log.warning("SMTP worker pid=%d will not follow its parent's death: %s", os.getpid(), exc)
    if os.getppid() != parent:  # it died before the request took effect
        os._exit(0)


@dataclass
class Workers:
    children: list[int] = field(default_factory=list)
    told: bool = False  # SIGTERM was sent: their exits are a shutdown, not deaths
    spawn: Callable[[], int] = spawn_worker
    clock: Callable[[], float] = time.monotonic
    delay: float = RESPAWN_FIRST  # before the next replacement; doubles while they keep dying
    replace_at: list[float] = field(default_factory=list)  # when each missing worker is due
    started: dict[int, float] = field(default_factory=dict)

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
        self._reap_dead()
        self._replace_due()

    def _reap_dead(self) -> None:
        now = self.clock()
        for pid in list(self.children):
            status: int | None
            try:
                done, status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:  # reaped elsewhere: gone all the same
                done, status = pid, None
            if done:
                self.children.remove(pid)
                metrics.worker_exited(pid)
                if now - self.started.pop(pid, now - CALM_AFTER) >= CALM_AFTER:
                    self.delay = RESPAWN_FIRST
                self.replace_at.append(now + self.delay)
                log.error(
                    "SMTP worker pid=%d exited (%s); %d process(es) still serve SMTP;"
                    " a new one in %.0fs",
                    pid,
                    _exit_text(status),
                    1 + len(self.children),
                    self.delay,
                )
                self.delay = min(self.delay * 2, RESPAWN_AT_MOST)

    def _replace_due(self) -> None:
        now = self.clock()
        for due in sorted(self.replace_at):
            if due > now:
                break
            self.replace_at.remove(due)
            try:
                pid = self.spawn()
            except OSError as exc:
                log.error("SMTP worker could not be started: %s; trying again", exc)
                self.replace_at.append(now + self.delay)
                continue
            self.children.append(pid)
            self.started[pid] = now
            log.warning("SMTP worker pid=%d started in place of one that exited", pid)

    def reap(self) -> None:
        """Wait for every worker to exit (blocking: run it in a thread); stops them first."""
        self.stop()
        for pid in self.children:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        self.children.clear()


def fork(count: int) -> tuple[bool, Workers]:
    """Fork ``count`` SMTP-only workers before any event loop exists.

    (True, no workers) in a child or a replacement worker; (False, the
    children) in the first process.
    """
    if parent := os.environ.get(WORKER_ENV):
        die_with_parent(int(parent))
        return True, Workers()
    parent_pid = os.getpid()
    children = []
    for _ in range(count):
        pid = os.fork()
        if pid == 0:
            die_with_parent(parent_pid)
            return True, Workers()
        children.append(pid)
    return False, Workers(children)


def _exit_text(status: int | None) -> str:
    if status is None:
        return "status unknown"
    if os.WIFSIGNALED(status):
        return f"killed by {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exit status {os.waitstatus_to_exitcode(status)}"
