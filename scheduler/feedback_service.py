"""The feedback tasks of one daemon, built from the settings: one object to wire.

The daemon builds a ``FeedbackService`` in the process that runs the sibling
tasks, starts its tasks and hands ``ingest_records`` to the admin webhook as
a plain callable, so neither the admin side nor the scheduler imports the
gateway. Settings are read through a callable on every round, so a reload
takes effect without a restart (except the inbox folder and the listener
address, read at start).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from conf import Settings
from policy import verp
from policy.bus import Bus
from policy.store import Store
from policy.store.inbox import Inbox
from policy.tokens import TokenKeys
from scheduler.effects import Effects
from scheduler.inbox import InboxProcessor

log = logging.getLogger("sluice.feedback")


@dataclass
class FeedbackService:
    store: Store
    settings: Callable[[], Settings]
    bus: Bus | None = None
    effects: Effects = field(init=False)
    inbox: InboxProcessor = field(init=False)

    def __post_init__(self) -> None:
        self.effects = Effects(self.store, lambda: self.settings().feedback, bus=self.bus)
        self.inbox = InboxProcessor(Inbox(self.settings().feedback.inbox), self.effects, self.keys)

    def keys(self) -> TokenKeys | None:
        secrets = self.settings().feedback.verp_secrets
        return verp.keys_for(tuple(secrets)) if secrets else None

    def start(self) -> list[asyncio.Task]:
        s = self.settings()
        missing = [t.name for t in s.tenants if t.bounce_domain and not s.feedback.verp_secrets]
        if missing:
            log.warning(
                "tenants %s have a bounce_domain but feedback.verp_secrets is empty:"
                " their mail keeps the sender's return path",
                ", ".join(missing),
            )
        f = s.feedback
        return [
            asyncio.create_task(self.inbox.run(f.poll_interval, f.inbox_keep_days), name="inbox")
        ]
