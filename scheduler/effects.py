"""Carry out what ``policy.feedback.decision`` decided: suppress, count, record, publish.

One ``Effects`` serves every input (the inbox, accounting files, the
webhook). ``apply`` is safe to repeat for the same feedback: a soft bounce
is counted once per key, a suppression is an upsert that never weakens an
entry, and an event is written in one transaction with its key: feedback
read again after a crash (an accounting file re-read from its last saved
position, an inbox item, a webhook batch posted twice) records, publishes
and notifies nothing twice.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence

from conf.schema import FeedbackSettings
from policy.bus import Bus
from policy.events import Event
from policy.feedback import decision as feedback
from policy.feedback.decision import Decision, Feedback
from policy.store import Store
from policy.suppression import Suppression
from scheduler import metrics

log = logging.getLogger("sluice.feedback")

# How long a feedback key is remembered: longer than any file, inbox item or
# webhook retry could come back.
FEEDBACK_KEYS_KEPT = 30 * 86400.0

# Told of what was decided, once recorded: MailWizz and the outbound webhooks.
Notify = Callable[[Sequence[tuple[Feedback, Decision]]], Awaitable[object]]


class Effects:
    def __init__(
        self,
        store: Store,
        settings: Callable[[], FeedbackSettings],
        *,
        bus: Bus | None = None,
        notify: Notify | None = None,
    ):
        self.store = store
        self.settings = settings
        self.bus = bus
        self.notify = notify
        self.suppressed = 0
        self.recorded = 0
        self._pruned_at = 0.0

    async def apply(self, items: Sequence[Feedback]) -> list[Decision]:
        s = self.settings()
        decisions: list[Decision] = []
        entries: dict[tuple[str, str], Suppression] = {}
        keyed: list[tuple[str, Event]] = []
        pending: list[tuple[Feedback, Decision, Event]] = []
        for fb in items:
            decision = feedback.decide(fb)
            decisions.append(decision)
            entry = decision.suppress
            if decision.count_soft:
                count = await self.store.count_soft_bounce(
                    fb.origin.tenant, fb.recipient, fb.key, fb.at, fb.at - s.soft_bounce_window
                )
                entry = feedback.soft_suppression(
                    fb, count, s.soft_bounce_limit, s.soft_bounce_expiry
                )
            if entry is not None:
                entries[(entry.tenant, entry.address)] = entry
            if decision.event is not None:
                event = feedback.event(fb, decision.event)
                keyed.append((fb.key, event))
                pending.append((fb, decision, event))
        await self._suppress(list(entries.values()))
        fresh = await self.store.record_feedback(keyed) if keyed else []
        self.recorded += len(fresh)
        metrics.count_feedback(pending, fresh)
        for event in fresh:
            if self.bus is not None:
                self.bus.publish(event)
        if self.notify is not None:
            # Only what was new: a re-read must not tell MailWizz or a webhook twice.
            new = {id(e) for e in fresh}
            told = [(fb, d) for fb, d, e in pending if id(e) in new]
            if told:
                await self.notify(told)
        await self._prune(s)
        return decisions

    async def unsubscribe(self, tenant: str, address: str, source: str) -> None:
        """An unsubscribe (link, page or mailto:): suppressed until removed."""
        await self._suppress([Suppression(tenant, address, "unsubscribe", source)])

    async def _suppress(self, entries: list[Suppression]) -> None:
        now = time.time()
        keep = []
        by_tenant: dict[str, list[Suppression]] = {}
        for entry in entries:
            by_tenant.setdefault(entry.tenant, []).append(entry)
        for tenant, wanted in by_tenant.items():
            present = await self.store.suppression_entries(tenant, [e.address for e in wanted])
            keep += [e for e in wanted if feedback.supersedes(e, present.get(e.address), now)]
        if keep:
            await self.store.suppress(keep)
            self.suppressed += len(keep)
            for entry in keep:
                log.info(
                    "suppressed tenant=%s address=%s reason=%s source=%s",
                    entry.tenant,
                    entry.address,
                    entry.reason,
                    entry.source,
                )

    async def _prune(self, s: FeedbackSettings) -> None:
        # Soft bounces older than the window can never count again.
        now = time.time()
        if now - self._pruned_at > 3600:
            self._pruned_at = now
            await self.store.prune_soft_bounces(now - s.soft_bounce_window)
            await self.store.prune_feedback_keys(now - FEEDBACK_KEYS_KEPT)
