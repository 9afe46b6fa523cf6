"""A worker that keeps dying is replaced after a delay that doubles, not in a spin."""

from __future__ import annotations

import itertools
import os

from gateway.workers import RESPAWN_AT_MOST, Workers


def crashing() -> int:
    return os.posix_spawn("/bin/sh", ["sh", "-c", "exit 3"], dict(os.environ))


def settle(workers: Workers) -> None:
    # Let the children exit so the next watch round sees them gone.
    for pid in workers.children:
        os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)


def test_replacements_back_off_while_workers_keep_dying():
    now = [1000.0]
    workers = Workers([crashing()], spawn=crashing, clock=lambda: now[0])
    spawned_at = []
    for _ in range(12):
        settle(workers)
        workers.watch()
        before = len(workers.children)
        while len(workers.children) == before:  # the next replacement, on the fake clock
            now[0] += 0.5
            workers.watch()
        spawned_at.append(now[0])
    gaps = [b - a for a, b in itertools.pairwise(spawned_at)]
    assert gaps[:5] == [2.0, 4.0, 8.0, 16.0, 32.0]  # the first came after 1 s, then doubling
    assert max(gaps) <= RESPAWN_AT_MOST + 0.5
    workers.reap()


def test_a_worker_that_lived_long_resets_the_delay():
    now = [0.0]
    workers = Workers([], spawn=crashing, clock=lambda: now[0], delay=32.0)
    workers.children.append(pid := crashing())
    workers.started[pid] = -400.0  # it served for over CALM_AFTER before dying
    settle(workers)
    workers.watch()
    assert workers.replace_at == [1.0]
    workers.reap()
