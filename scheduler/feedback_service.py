"""The feedback tasks of one daemon, built from the settings: one object to wire.

The daemon builds a ``FeedbackService`` in the process that runs the sibling
tasks, puts its tasks on the supervisor and hands ``ingest_records`` to the
admin webhook as a plain callable, so neither the admin side nor the
scheduler imports the gateway. Settings are read through a callable on every round, so a reload
takes effect without a restart (except the inbox folder and the listener
address, read at start).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from conf import Settings
from policy import links
from policy.bus import Bus
from policy.feedback import accounting, verp
from policy.feedback.accounting import TenantOf
from policy.store import Store
from policy.store.inbox import Inbox
from scheduler import accounting as scheduler_accounting
from scheduler import health, inbox, metrics, notify
from scheduler.accounting import AccountingTailer
from scheduler.effects import Effects
from scheduler.health import HealthWatch, Quarantine, ipstate_quarantine
from scheduler.inbox import InboxProcessor
from scheduler.notify import Notifier
from scheduler.replies import ReplyService
from scheduler.supervisor import Supervisor
from scheduler.unsubscribes import Unsubscribes

log = logging.getLogger("sluice.feedback")


@dataclass
class FeedbackService:
    store: Store
    settings: Callable[[], Settings]
    bus: Bus | None = None
    # IP quarantine on bad rates; None: the IP state store (policy.quota.ipstate) records it.
    quarantine: Quarantine | None = None
    # Replies to scenario mail found in the inbox (scheduler/replies); None: undetermined/.
    replies: ReplyService | None = None
    effects: Effects = field(init=False)
    inbox: InboxProcessor = field(init=False)
    accounting: AccountingTailer = field(init=False)
    health: HealthWatch = field(init=False)
    notifier: Notifier = field(init=False)
    # Unsubscribes by link (handed to the public listener) and mailto: (the inbox).
    unsubscribes: Unsubscribes = field(init=False)
    _tenants: tuple[object, TenantOf] | None = field(default=None, init=False)
    _verifier: tuple[object, verp.Verifier] | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.notifier = Notifier(self.store, self.settings)
        self.effects = Effects(
            self.store,
            lambda: self.settings().feedback,
            bus=self.bus,
            notify=self.notifier.enqueue,
        )
        self.unsubscribes = Unsubscribes(
            self.store, self.effects, self.notifier.unsubscribe_rows, bus=self.bus
        )
        self.inbox = InboxProcessor(
            Inbox(self.settings().feedback.inbox),
            self.effects,
            self.keys,
            unsubscribe_keys=lambda: links.tenant_keys(self.settings().tenants),
            unsubscribes=self.unsubscribes,
            max_age=lambda: self.settings().feedback.verp_max_age,
            replies=self.replies,
        )
        self.accounting = AccountingTailer(
            self.store,
            self.effects,
            lambda: self.settings().feedback.accounting_folder,
            lambda: self.settings().feedback.accounting_pattern,
            self.keys,
            self.tenant_of,
        )
        self.health = HealthWatch(
            self.store,
            lambda: self.settings().feedback.health,
            self.quarantine or ipstate_quarantine(self.store, self.settings),
        )

    def keys(self) -> verp.Verifier | None:
        """What reads VERP tokens under the current settings (rebuilt after a reload)."""
        s = self.settings()
        if not s.feedback.verp_secrets:
            return None
        if self._verifier is None or self._verifier[0] is not s:
            known = verp.Known(
                tenants=tuple(t.name for t in s.tenants),
                ips=tuple(p.ip for ips in s.pools.values() for p in ips),
                max_age=s.feedback.verp_max_age,
            )
            self._verifier = (
                s,
                verp.Verifier(verp.keys_for(tuple(s.feedback.verp_secrets)), known),
            )
        return self._verifier[1]

    def tenant_of(self) -> TenantOf:
        """The sender-domain lookup of the current settings, rebuilt after a reload."""
        tenants = self.settings().tenants
        if self._tenants is None or self._tenants[0] is not tenants:
            lookup = accounting.tenant_by_sender((t.name, t.sender_domains) for t in tenants)
            self._tenants = (tenants, lookup)
        return self._tenants[1]

    async def ingest_records(self, records: Sequence[dict]) -> int:
        """PowerMTA records posted to the webhook; how many carried feedback.

        A record's key is its content's hash: PowerMTA posting the same batch
        again after a timeout does not count a soft bounce twice.
        """
        keys, tenant_of, now = self.keys(), self.tenant_of(), time.time()
        items = []
        for record in records:
            low = accounting.lowered(record)
            digest = hashlib.sha256(json.dumps(low, sort_keys=True).encode()).hexdigest()[:32]
            fb = accounting.to_feedback(low, f"hook:{digest}", keys, tenant_of, now, _unmatched)
            if fb is not None:
                items.append(fb)
        if items:
            await self.effects.apply(items)
        return len(items)

    def schedule(self, tasks: Supervisor) -> None:
        """Put the feedback tasks on the supervisor; intervals are read each round (reloads)."""
        s = self.settings()
        missing = [t.name for t in s.tenants if t.bounce_domain and not s.feedback.verp_secrets]
        if missing:
            log.warning(
                "tenants %s have a bounce_domain but feedback.verp_secrets is empty:"
                " their mail keeps the sender's return path",
                ", ".join(missing),
            )

        def poll() -> float:
            return self.settings().feedback.poll_interval

        def keep_days() -> float:
            return self.settings().feedback.inbox_keep_days

        def health_interval() -> float:
            return self.settings().feedback.health.interval

        tasks.every(inbox.TASK, poll, lambda: self.inbox.poll(keep_days()))
        tasks.every(scheduler_accounting.TASK, poll, self.accounting.poll)
        tasks.every(health.TASK, health_interval, self.health.check)
        tasks.every(notify.TASK, poll, self.notifier.poll, on_stop=self.notifier.close)


def _unmatched() -> None:
    metrics.count_unmatched("webhook")
