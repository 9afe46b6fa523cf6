"""What a claimed batch's operations read before they run, in one query per kind.

Each operation asks for its enrollment, its contact and the stop rules that apply
since its enrollment; read one at a time, that was three round trips an operation
(a third of its statements). Read for the whole batch just after the claim, they
are as fresh as the claim itself. An operation not found here (a batch of one, an
orphan being resolved) reads the store as before.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from policy.scenarios.ledger import Enrollment, Op
from policy.store import Store
from scheduler.scenarios.catalog import Catalog, Recipient


@dataclass
class Facts:
    enrollments: dict[str, Enrollment] = field(default_factory=dict)
    recipients: dict[tuple[str, str], Recipient | None] = field(default_factory=dict)
    stops: dict[tuple[str, str], list[tuple[int, float, str]]] = field(default_factory=dict)

    def stop_reason(self, tenant: str, email: str, since: float) -> str | None:
        """As the store's ``stop_reason``: the best-ranked fact since ``since``, earliest first."""
        found = [f for f in self.stops.get((tenant, email), ()) if f[1] >= since]
        return min(found)[2] if found else None


async def load(store: Store, catalog: Catalog, ops: Sequence[Op]) -> Facts:
    facts = Facts(enrollments=await store.enrollments([op.enrollment for op in ops]))
    by_tenant: defaultdict[str, list[str]] = defaultdict(list)
    for op in ops:
        by_tenant[op.tenant].append(op.email)
    for tenant, emails in by_tenant.items():
        found = await catalog.recipients(tenant, emails)
        facts.recipients.update({(tenant, e): found.get(e) for e in emails})
        since = min(
            (
                e.created
                for op in ops
                if op.tenant == tenant and (e := facts.enrollments.get(op.enrollment))
            ),
            default=0.0,
        )
        stops: defaultdict[tuple[str, str], list[tuple[int, float, str]]] = defaultdict(list)
        for email, rank, at, rule in await store.stop_facts(tenant, emails, since):
            stops[(tenant, email)].append((rank, at, rule))
        for email in emails:
            facts.stops[(tenant, email)] = stops.get((tenant, email), [])
    return facts
