"""The operational alerts (the ``alert-watch`` task): stalled tasks, PowerMTA down, spool
growing, a tenant's quota exhausted, an IP quarantined (whatever the cause).

Every ``WATCH_EVERY`` seconds it asks its probes how things are and hands
policy.alert_kinds' answers to the Alerter, which sends each change once
(deduplicated, rate-limited, resolved when it ends). The probes are plain
callables the daemon passes in, so this module needs nothing of the gateway.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from policy import alert_kinds
from policy.alerts import Alert
from scheduler.supervisor import Supervisor

TASK = "alert-watch"
WATCH_EVERY = 30.0


@dataclass
class Probes:
    downstream_up: Callable[[], bool] | None = None
    spool_size: Callable[[], Awaitable[int]] | None = None
    # Each tenant: True while its pool has nothing left to send today (policy.quota).
    quota_exhausted: Callable[[], Awaitable[dict[str, bool]]] | None = None
    # Each quarantined IP of the pools, with why (its last transition's reason).
    quarantined: Callable[[], Awaitable[dict[str, str]]] | None = None


@dataclass
class ConditionWatch:
    tasks: Supervisor
    alert: Callable[[Alert], Awaitable[None]]
    probes: Probes
    down_after: float = 300.0  # seconds PowerMTA may be unreachable before it alerts
    spool_window: float = 900.0  # seconds the spool must only grow before it alerts
    clock: Callable[[], float] = time.time
    down_since: float | None = None
    samples: deque[tuple[float, int]] = field(default_factory=deque)
    in_quarantine: set[str] = field(default_factory=set)

    async def check(self) -> list[Alert]:
        now = self.clock()
        late = [line.split(" ", 1)[0] for line in self.tasks.late(now)]
        out = alert_kinds.tasks_stalled(late, self.tasks.tasks, now)
        if self.probes.downstream_up is not None:
            if self.probes.downstream_up():
                self.down_since = None
            elif self.down_since is None:
                self.down_since = now
            out.append(alert_kinds.downstream_down(self.down_since, now, self.down_after))
        if self.probes.spool_size is not None:
            self.samples.append((now, await self.probes.spool_size()))
            while self.samples and now - self.samples[0][0] > 2 * self.spool_window:
                self.samples.popleft()  # bounded: only the window (and one more) is kept
            out.append(alert_kinds.spool_growing(list(self.samples), now, self.spool_window))
        if self.probes.quota_exhausted is not None:
            for tenant, exhausted in sorted((await self.probes.quota_exhausted()).items()):
                out.append(alert_kinds.quota_exhausted(tenant, exhausted, now))
        if self.probes.quarantined is not None:
            found = await self.probes.quarantined()
            for ip in sorted(self.in_quarantine | set(found)):
                out.append(alert_kinds.ip_quarantined(ip, found.get(ip, ""), now))
            self.in_quarantine = set(found)
        for a in out:
            await self.alert(a)
        return out


def schedule(watch: ConditionWatch) -> None:
    async def once() -> None:
        await watch.check()

    watch.tasks.every(TASK, lambda: WATCH_EVERY, once)
