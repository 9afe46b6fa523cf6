"""Tell MailWizz and the tenants' webhooks about feedback; an outage queues, never drops.

``enqueue`` runs inside the effects of each batch of feedback and writes one
row per receiver and item to the store's queue; ``run`` sends what is due,
one POST per receiver with every waiting item (a batch), and deletes the
rows only after a 2xx. A failure (refused, timed out, 5xx, 4xx alike: a
receiver misconfigured today is fixed tomorrow) puts the rows back with an
exponential backoff of 5 s up to an hour. Claimed rows are leased, so with
several hosts (PostgreSQL ``SKIP LOCKED``) each batch is posted by one, and
a sender that dies mid-post is retried when the lease ends.

The one case where rows are dropped: their receiver is no longer in the
configuration (the operator removed it), which is logged.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Sequence

import aiohttp

from conf import Settings
from policy import notify
from policy.feedback import Decision, Feedback
from policy.store import Store

log = logging.getLogger("sluice.notify")

LEASE = 120.0
BATCH = 500
TIMEOUT = 15.0


class Notifier:
    def __init__(
        self,
        store: Store,
        settings: Callable[[], Settings],
        *,
        clock: Callable[[], float] = time.time,
    ):
        self.store = store
        self.settings = settings
        self.clock = clock
        self.sent = 0
        self.failed = 0

    async def enqueue(self, items: Sequence[tuple[Feedback, Decision]]) -> int:
        tenants = {t.name: t for t in self.settings().tenants}
        rows: list[tuple[str, str]] = []
        for fb, decision in items:
            tenant = tenants.get(fb.origin.tenant)
            if tenant is None:
                continue
            if tenant.mailwizz_dswh:
                record = notify.mailwizz_record(fb, decision)
                if record is not None:
                    where = notify.target(notify.MAILWIZZ, tenant.name, tenant.mailwizz_dswh)
                    rows.append((where, json.dumps(record)))
            for hook in tenant.webhooks:
                if decision.event in hook.events:
                    event = notify.webhook_event(fb, decision)
                    rows.append(
                        (notify.target(notify.WEBHOOK, tenant.name, hook.url), json.dumps(event))
                    )
        if rows:
            await self.store.enqueue_notifications(rows, self.clock())
        return len(rows)

    async def run(self, interval: float) -> None:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT)) as http:
            while True:
                try:
                    while await self.send_due(http) == BATCH:
                        pass
                except Exception:
                    log.exception("notification round failed; trying again")
                await asyncio.sleep(interval)

    async def send_due(self, http: aiohttp.ClientSession) -> int:
        """Post every due notification, a batch per receiver; how many rows were claimed."""
        now = self.clock()
        rows = await self.store.claim_notifications(now, now + LEASE, BATCH)
        batches: dict[str, list[tuple[int, str, int]]] = {}
        for row_id, where, payload, attempts in rows:
            batches.setdefault(where, []).append((row_id, payload, attempts))
        for where, batch in batches.items():
            await self._post(http, where, batch)
        return len(rows)

    async def _post(self, http: aiohttp.ClientSession, where: str, batch: list) -> None:
        kind, tenant, url = notify.parse_target(where)
        ids = [row_id for row_id, _, _ in batch]
        secret = self._secret(kind, tenant, url)
        if secret is None:
            log.warning(
                "dropping %d notification(s): %s of %s is not configured", len(ids), url, tenant
            )
            await self.store.finish_notifications(ids)
            return
        body = notify.body(kind, [payload for _, payload, _ in batch])
        headers = {"Content-Type": "application/json", "User-Agent": "Sluice"}
        if kind == notify.WEBHOOK:
            headers["X-Sluice-Signature"] = notify.sign(secret, body, int(self.clock()))
        try:
            async with http.post(url, data=body, headers=headers) as resp:
                await resp.read()
                ok, error = 200 <= resp.status < 300, f"HTTP {resp.status}"
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            ok, error = False, f"{exc.__class__.__name__}: {exc}"[:200]
        if ok:
            await self.store.finish_notifications(ids)
            self.sent += len(ids)
            return
        attempts = max(a for _, _, a in batch)
        delay = notify.backoff(attempts)
        self.failed += len(ids)
        log.warning("%s %s: %s; %d queued, next try in %.0fs", kind, url, error, len(ids), delay)
        await self.store.retry_notifications(ids, self.clock() + delay, error)

    def _secret(self, kind: str, tenant: str, url: str) -> str | None:
        """The receiver's secret ("" for MailWizz), None when it is no longer configured."""
        for t in self.settings().tenants:
            if t.name != tenant:
                continue
            if kind == notify.MAILWIZZ and t.mailwizz_dswh == url:
                return ""
            for hook in t.webhooks:
                if kind == notify.WEBHOOK and hook.url == url:
                    return hook.secret
        return None
