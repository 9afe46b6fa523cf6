"""Unsubscribes: suppress the address, tell MailWizz's API, record the mailto: ones once.

Two ways in:

- ``link``: the public listener's one-click POST and its page's button
  (``admin.tracking``), handed to it by the daemon. The address is
  suppressed and MailWizz's item queued before the 200, so a failure is a
  503 the mailbox provider tries again; the engagement event is the
  endpoint's (``EngagementRecorder``). A second click queues a second item,
  which changes nothing in MailWizz.
- ``mailto``: the unsubscribe messages of one inbox item (``scheduler.inbox``).
  The inbox is at-least-once (a crash between applying an item and moving
  it on processes it again), so its engagement events and MailWizz items
  are written in one transaction with the item's key (``store.record_once``):
  processed twice, they are recorded, published and queued once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from policy import metrics
from policy.bots import HUMAN
from policy.bus import Bus
from policy.engagement import Engagement
from policy.links import split_ref
from policy.store import Store
from policy.tokens import TokenData
from scheduler.effects import Effects

MAILTO = "mailto"

# (tenant, address, source, job) -> the notification rows that tell MailWizz's API.
Rows = Callable[[str, str, str, str], list[tuple[str, str]]]


class Unsubscribes:
    def __init__(
        self,
        store: Store,
        effects: Effects,
        rows: Rows,
        *,
        bus: Bus | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.effects = effects
        self.rows = rows
        self.bus = bus
        self.clock = clock

    async def link(self, tenant: str, address: str, source: str) -> None:
        """An unsubscribe through the public listener: suppressed, MailWizz's item queued."""
        await self.effects.unsubscribe(tenant, address, source)
        rows = self.rows(tenant, address, source, "")
        if rows:
            await self.store.enqueue_notifications(rows, self.clock())

    async def mailto(self, key: str, events: Sequence[Engagement]) -> bool:
        """The mailto: unsubscribes of one inbox item; whether ``key`` was new."""
        for event in events:
            await self.effects.unsubscribe(event.tenant, event.recipient, MAILTO)
        rows = [r for e in events for r in self.rows(e.tenant, e.recipient, MAILTO, e.job)]
        new = await self.store.record_once(key, self.clock(), events, rows)
        if new:
            metrics.count_engagement(events)
            for event in events:
                if self.bus is not None:
                    self.bus.publish(event)
        return new


def mailto_event(data: TokenData, at: float) -> Engagement:
    """The engagement event of a mailto: unsubscribe whose token is ``data``, received at ``at``."""
    job, message_id = split_ref(data.message_id)
    return Engagement(
        kind="unsubscribe",
        tenant=data.tenant,
        job=job,
        message_id=message_id,
        recipient=data.recipient,
        link_index=data.link_index,
        at=at,
        sent_at=float(data.issued_at),
        # A person's decision, sent from their mailbox: never a machine's.
        classification=HUMAN,
        reason=MAILTO,
    )
