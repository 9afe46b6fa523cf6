"""A reply to scenario mail: matched, kept, classified, and its effects applied.

Whether it came over SMTP to ``reply+<token>@<reply_domain>`` (through the
durable inbox, ``scheduler/inbox.py``) or from a tenant's IMAP mailbox
(``scheduler/replies_imap.py``), a reply is:

1. matched to the send it answers: the signed token of a reply address among
   its envelope recipients or its To/Cc/Delivered-To, else the scenario
   Message-IDs its In-Reply-To/References name (those found in the ledger's
   archive for the tenant); the ledger names the contact, scenario, step and
   enrollment. A reply that matches nothing acts on nothing.
2. classified: the rules of ``policy/replies/rules.py`` first (auto-replies,
   out-of-office with its return date, unsubscribe wording), then the model
   (``scheduler/replies_ai.py``); below ``replies.min_confidence`` the class is
   kept but marked for review; without the model, ``other`` for review.
3. stored once with its original bytes (keyed by where it came from, so a
   reply read twice changes nothing twice), then its effects: a human reply
   records the contact event ``replied`` (the stop rule ``reply`` then ends the
   sequence); an unsubscribe request suppresses at once (the model may add a
   suppression, never remove one); an out-of-office postpones the enrollment's
   waiting operations to the day after the return date, or by
   ``replies.out_of_office_delay``; interested and meeting requests raise an
   alert and a ``replied`` webhook event.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence

from conf import Settings, TenantSettings
from policy import alert_kinds
from policy.alerts import Alert
from policy.feedback import notify
from policy.replies import classes, dates, rules
from policy.replies import token as reply_token
from policy.replies.message import Reply, read
from policy.replies.record import ReplyRow, SentMessage
from policy.store import Store
from policy.suppression import Suppression
from policy.tokens import BadToken
from scheduler.replies_ai import ReplyClassifier

log = logging.getLogger("sluice.replies")
EXCERPT = 500
Alerter = Callable[[Alert], Awaitable[None]]


async def _no_alert(alert: Alert) -> None:
    return None


class ReplyService:
    def __init__(
        self,
        store: Store,
        settings: Callable[[], Settings],
        classifier: ReplyClassifier | None = None,
        *,
        alert: Alerter = _no_alert,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.settings = settings
        self.classifier = classifier or ReplyClassifier(store, settings, clock)
        self.alert = alert
        self.clock = clock
        self.outcomes: dict[str, int] = {}

    def tenant_of_domain(self, domain: str) -> TenantSettings | None:
        domain = domain.strip().rstrip(".").lower()
        for t in self.settings().tenants:
            if t.reply_domain is not None and t.reply_domain.lower() == domain:
                return t
        return None

    async def handle(
        self, tenant: str, raw: bytes, *, key: str, source: str, rcpts: Sequence[str] = (),
        at: float | None = None,
    ) -> str:  # fmt: skip
        """One reply: ``stored``, ``duplicate`` or ``unmatched``."""
        at = self.clock() if at is None else at
        reply = await asyncio.to_thread(read, raw)
        sent = await self.match(tenant, reply, rcpts)
        if sent is None:
            log.info("reply %s for %s matches no scenario send", key, tenant)
            return self._count("unmatched")
        row = await self.classify(sent, reply, key, source, at)
        row_id = await self.store.add_reply(row, raw)
        if row_id is None:
            return self._count("duplicate")
        await self.apply(row, row_id)
        log.info(
            "reply %s from %s: %s (%.2f, %s%s) scenario=%s step=%s",
            row_id, sent.email, row.classification, row.confidence, row.decided_by,
            ", review" if row.review else "", sent.scenario, sent.step,
        )  # fmt: skip
        return self._count("stored")

    def _count(self, outcome: str) -> str:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1
        return outcome

    async def match(self, tenant: str, reply: Reply, rcpts: Sequence[str]) -> SentMessage | None:
        t = next((x for x in self.settings().tenants if x.name == tenant), None)
        secrets = t.tracking.secrets if t is not None and t.tracking is not None else ()
        for address in (*rcpts, *reply.recipients):
            local = address.strip().strip("<>").rpartition("@")[0]
            if not secrets or not reply_token.looks_like(local):
                continue
            try:
                digest = reply_token.verify(secrets, tenant, local)
            except BadToken:
                continue
            sent = await self.store.sent_message(tenant, digest)
            if sent is not None:
                return sent
        for ref in reply.references:
            found = reply_token.digest_of(ref)
            if found is None:
                continue
            sent = await self.store.sent_message(tenant, found)
            # The whole Message-ID, domain included: a digest alone is not a proof here.
            if sent is not None and sent.message_id.lower() == ref.lower():
                return sent
        return None

    async def classify(
        self, sent: SentMessage, reply: Reply, key: str, source: str, at: float
    ) -> ReplyRow:
        verdict = rules.classify(reply, at)
        label, confidence, by, review, detail = classes.OTHER, 0.0, "fallback", True, ""
        return_at: float | None = None
        if verdict is not None:
            label, confidence, by, review, detail = (
                verdict.classification, 1.0, "rules", False, verdict.rule,
            )  # fmt: skip
            if verdict.return_date is not None:
                return_at = dates.resume_at(verdict.return_date) - 86400.0
        else:
            model, why = await self.classifier.classify(sent.tenant, reply.subject, reply.own_text)
            if model is None:
                detail = why
            else:
                label, confidence, by, detail = (
                    model.classification, model.confidence, "model", model.reason,
                )  # fmt: skip
                review = confidence < self.settings().replies.min_confidence
        return ReplyRow(
            0, key, sent.tenant, sent.email, sent.scenario, sent.step, sent.enrollment,
            sent.message_id, reply.message_id[:300], source, reply.sender[:300],
            reply.subject[:300], label, confidence, by, review, return_at, detail[:500],
            reply.own_text[:EXCERPT], at, at,
        )  # fmt: skip

    async def apply(self, row: ReplyRow, row_id: int) -> None:
        label = row.classification
        if classes.human(label):
            detail = json.dumps({"class": label, "reply": row_id, "scenario": row.scenario})
            await self.store.add_contact_event(
                row.tenant, row.email, "replied", detail, row.received_at
            )
        if label == classes.UNSUBSCRIBE_REQUEST:
            entry = Suppression(row.tenant, row.email, "unsubscribe", "reply", row.received_at)
            await self.store.suppress([entry])
        if label == classes.OUT_OF_OFFICE:
            due = row.return_at + 86400.0 if row.return_at is not None else None
            due = due or row.received_at + self.settings().replies.out_of_office_delay
            moved = await self.store.postpone_enrollment(row.enrollment, due, self.clock())
            log.info("reply %s: out of office, %d operation(s) moved to %.0f", row_id, moved, due)
        if label in classes.HOT:
            await self._tell(row, row_id)

    async def _tell(self, row: ReplyRow, row_id: int) -> None:
        alert = alert_kinds.reply_hot(
            row.tenant, row.email, row.scenario, row.step, row.classification, self.clock()
        )
        try:
            await self.alert(alert)
        except Exception:  # an alert must never hold up the reply's other effects
            log.exception("reply %s: the alert failed", row_id)
        tenant = next((t for t in self.settings().tenants if t.name == row.tenant), None)
        hooks = [h for h in (tenant.webhooks if tenant else ()) if "replied" in h.events]
        event = {
            "type": "replied", "tenant": row.tenant, "recipient": row.email, "id": row_id,
            "class": row.classification, "confidence": row.confidence,
            "scenario": row.scenario, "step": row.step, "message_id": row.message_id,
            "subject": row.subject, "at": row.received_at,
        }  # fmt: skip
        rows = [
            (notify.target(notify.WEBHOOK, row.tenant, h.url), json.dumps(event)) for h in hooks
        ]
        if rows:
            await self.store.enqueue_notifications(rows, self.clock())
