"""Tell MailWizz and the tenants' webhooks about feedback; an outage queues, never drops.

``enqueue`` runs inside the effects of each batch of feedback and writes one
row per receiver and item to the store's queue; ``poll`` (a round of the
``notify`` task) sends what is due,
one POST per receiver with every waiting item (a batch), and deletes the
rows only after a 2xx. A failure (refused, timed out, 5xx, 4xx alike: a
receiver misconfigured today is fixed tomorrow) puts the rows back with an
exponential backoff of 5 s up to an hour. Claimed rows are leased, so with
several hosts (PostgreSQL ``SKIP LOCKED``) each batch is posted by one, and
a sender that dies mid-post is retried when the lease ends.

MailWizz's API (``unsubscribe.mailwizz``) is told of unsubscribes
(``unsubscribe_rows``) and complaints, one item at a time
(``scheduler.mailwizz``), a few at once per API. An item MailWizz can never
take (no such subscriber: 404) is deleted with a warning; any other failure
backs off like a batch. The first failure of an API in a round backs off
the rest of its items too, unsent: a server that is down is not asked 500
times, and a round never outlasts its lease.

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
from conf.schema import MailwizzApiSettings, TenantSettings
from policy.feedback import mailwizz as mailwizz_api
from policy.feedback import notify
from policy.feedback.decision import COMPLAINED, Decision, Feedback
from policy.store import Store
from scheduler import mailwizz

log = logging.getLogger("sluice.notify")
TASK = "notify"  # its sluice_task_* label

LEASE = 120.0
BATCH = 500
TIMEOUT = 15.0
# MailWizz API items in flight at once per API.
API_CONCURRENCY = 4


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
        self._http: aiohttp.ClientSession | None = None  # poll's, closed by close()

    async def enqueue(self, items: Sequence[tuple[Feedback, Decision]]) -> int:
        tenants = {t.name: t for t in self.settings().tenants}
        rows: list[tuple[str, str]] = []
        for fb, decision in items:
            tenant = tenants.get(fb.origin.tenant)
            if tenant is None:
                continue
            api = _api_of(tenant)
            if api is not None and decision.event == COMPLAINED:
                item = notify.mailwizz_unsubscribe(
                    fb.recipient,
                    "complaint",
                    fb.source,
                    fb.origin.job or fb.report.x_job,
                    fb.report.x_mw_subscriber_uid,
                )
                where = notify.target(notify.MAILWIZZ_API, tenant.name, api.api_url)
                rows.append((where, json.dumps(item)))
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

    def unsubscribe_rows(
        self, tenant: str, address: str, source: str, job: str = ""
    ) -> list[tuple[str, str]]:
        """The queue rows that tell MailWizz's API of an unsubscribe (none when not configured)."""
        for t in self.settings().tenants:
            api = _api_of(t) if t.name == tenant else None
            if api is not None:
                item = notify.mailwizz_unsubscribe(address, "unsubscribe", source, job)
                where = notify.target(notify.MAILWIZZ_API, tenant, api.api_url)
                return [(where, json.dumps(item))]
        return []

    async def poll(self) -> None:
        """One round: send everything due, batch after batch, on a session kept between rounds."""
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT))
        while await self.send_due(self._http) == BATCH:
            pass

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def send_due(self, http: aiohttp.ClientSession) -> int:
        """Post every due notification, a batch per receiver; how many rows were claimed."""
        now = self.clock()
        rows = await self.store.claim_notifications(now, now + LEASE, BATCH)
        batches: dict[str, list[tuple[int, str, int]]] = {}
        for row_id, where, payload, attempts in rows:
            batches.setdefault(where, []).append((row_id, payload, attempts))
        # Items not begun by then wait for their lease to end rather than outlive it.
        deadline = now + LEASE * 0.75
        for where, batch in batches.items():
            if notify.parse_target(where)[0] == notify.MAILWIZZ_API:
                await self._call_api(http, where, batch, deadline)
            else:
                await self._post(http, where, batch)
        return len(rows)

    async def _call_api(
        self, http: aiohttp.ClientSession, where: str, batch: list, deadline: float
    ) -> None:
        _, tenant, url = notify.parse_target(where)
        ids = [row_id for row_id, _, _ in batch]
        api = self._api(tenant, url)
        if api is None:
            log.warning(
                "dropping %d MailWizz API item(s): %s of %s is not configured",
                len(ids),
                url,
                tenant,
            )
            await self.store.finish_notifications(ids)
            return
        finished: list[int] = []
        failed: dict[int, list[int]] = {}  # by attempts, so the backoff grows per row
        errors: list[str] = []
        gate = asyncio.Semaphore(API_CONCURRENCY)

        async def one(row_id: int, payload: str, attempts: int) -> None:
            async with gate:
                if errors or self.clock() > deadline:
                    # After a failure the rest back off unsent; past the deadline they
                    # are left to their lease.
                    if errors:
                        failed.setdefault(attempts, []).append(row_id)
                    return
                item = json.loads(payload)
                outcome = await mailwizz.unsubscribe(http, api, item)
            if outcome.verdict == mailwizz_api.RETRY:
                errors.append(outcome.detail)
                failed.setdefault(attempts, []).append(row_id)
                return
            _log_outcome(tenant, item, outcome)
            self.sent += outcome.verdict == mailwizz_api.DONE
            finished.append(row_id)

        await asyncio.gather(*(one(*row) for row in batch))
        if finished:
            await self.store.finish_notifications(finished)
        for attempts, retry in failed.items():
            delay = notify.backoff(attempts)
            self.failed += len(retry)
            log.warning(
                "mailwizz api %s: %s; %d queued, next try in %.0fs",
                url,
                errors[0],
                len(retry),
                delay,
            )
            await self.store.retry_notifications(retry, self.clock() + delay, errors[0])

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

    def _api(self, tenant: str, url: str) -> MailwizzApiSettings | None:
        for t in self.settings().tenants:
            api = _api_of(t) if t.name == tenant else None
            if api is not None and api.api_url == url:
                return api
        return None

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


def _log_outcome(tenant: str, item: dict, outcome: mailwizz.Outcome) -> None:
    gone = outcome.verdict == mailwizz_api.GONE
    log.log(
        logging.WARNING if gone else logging.INFO,
        "mailwizz %s of %s (tenant %s, via %s): %s%s",
        item.get("reason"),
        item.get("address"),
        tenant,
        item.get("source"),
        outcome.detail,
        "; not retried" if gone else "",
    )


def _api_of(tenant: TenantSettings) -> MailwizzApiSettings | None:
    return tenant.unsubscribe.mailwizz if tenant.unsubscribe is not None else None
