"""Each process's mirror of the policy the store holds: switches, IP states, suppression.

The SMTP path reads only this mirror, never the store, so a lookup costs a
dict access and a slow or absent database does not slow a transaction. A
task refreshes it every `policy.refresh` seconds (switches and states in
full, suppression by sequence number), which bounds how long a change takes
to reach every process. `age()` says how old the mirror is; the gateway
stops relaying when it is older than `policy.max_stale`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Protocol

from policy import switches
from policy.quota.ipstate import IpRecord
from policy.quota.measures import Measure
from policy.suppression import Removal, Suppression, SuppressionList
from policy.switches import Switch

CHUNK = 10_000


class PolicyStore(Protocol):
    async def switches(self) -> list[Switch]: ...
    async def ip_states(self) -> dict[str, IpRecord]: ...
    async def measures(self, now: float) -> list[Measure]: ...
    async def suppression_changes(
        self, after: int, limit: int = CHUNK
    ) -> list[tuple[int, Suppression | Removal]]: ...


@dataclass
class PolicyView:
    suppression: SuppressionList = field(default_factory=SuppressionList)
    switches: dict[tuple[str, str], Switch] = field(default_factory=dict)
    ips: dict[str, IpRecord] = field(default_factory=dict)
    # Health holds and throttles in force (policy.quota.measures), by (ip, provider, kind).
    measures: dict[tuple[str, str, str], Measure] = field(default_factory=dict)
    seq: int = 0  # the last suppression write applied
    refreshed: float = field(default_factory=time.monotonic)
    error: str = ""  # why the last refresh failed; "" when it worked

    def switch(self, kind: str, tenant: str) -> Switch | None:
        return switches.active(self.switches, kind, tenant)

    def age(self) -> float:
        return time.monotonic() - self.refreshed


async def refresh(view: PolicyView, store: PolicyStore) -> None:
    """Bring `view` up to date with the store; raises (and keeps the old view) on failure."""
    current = {s.key: s for s in await store.switches()}
    ips = await store.ip_states()
    measures = {m.key: m for m in await store.measures(time.time())}
    seq = view.seq
    pending: list[Suppression | Removal] = []
    while True:
        changes = await store.suppression_changes(seq, CHUNK)
        pending.extend(change for _, change in changes)
        if changes:
            seq = changes[-1][0]
        if len(changes) < CHUNK:
            break
    # Applied only once everything was read, so a failure half-way changes nothing.
    view.suppression.apply(pending)
    view.seq = seq
    view.switches = current
    view.ips = ips
    view.measures = measures
    view.refreshed = time.monotonic()
    view.error = ""


async def refresh_or_keep(view: PolicyView, store: PolicyStore) -> None:
    """One round of the refresh task: on failure the cached policy stays, ``error`` says why.

    The failure is raised again for the task's supervisor to log and count.
    """
    try:
        await refresh(view, store)
    except Exception as exc:
        view.error = f"{exc.__class__.__name__}: {exc}"[:200]
        raise
