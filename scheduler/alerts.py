"""Sending alerts: the log always, a signed JSON webhook and Telegram when configured.

policy.alerts decides which to send; a request that fails is logged and not
retried (the condition's next change, or its repeat, tells again): an alert
must never hold up the task that raised it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import aiohttp

from conf import Settings
from policy import alerts
from policy.alerts import Alert, AlertState
from policy.feedback import notify

log = logging.getLogger("sluice.alerts")


class Alerter:
    def __init__(
        self, settings: Callable[[], Settings], clock: Callable[[], float] = time.time
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.state = AlertState()
        self.failures = 0

    async def __call__(self, alert: Alert) -> None:
        cfg = self.settings().alerts
        line = alerts.message(alert)
        if not alerts.should_send(alert, self.state, self.clock(), cfg.repeat, cfg.max_per_minute):
            # A repeat of a firing alert is worth a line; a condition that is simply fine
            # (checked every round, never announced) is not.
            log.log(logging.INFO if alert.firing else logging.DEBUG, "alert (not sent): %s", line)
            return
        log.warning("alert: %s", line)
        sends = []
        timeout = aiohttp.ClientTimeout(total=cfg.timeout)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            if cfg.webhook is not None:
                body = alerts.webhook_body(alert)
                headers = {"Content-Type": "application/json", "User-Agent": "Sluice"}
                headers["X-Sluice-Signature"] = notify.sign(
                    cfg.webhook.secret, body, int(self.clock())
                )
                sends.append(self._post(http, cfg.webhook.url, body, headers))
            if cfg.telegram is not None:
                tg = cfg.telegram
                url = f"{tg.api_url.rstrip('/')}/bot{tg.bot_token}/sendMessage"
                payload = {"chat_id": tg.chat_id, "text": line}
                sends.append(self._post(http, url, None, None, payload, shown="telegram"))
            await asyncio.gather(*sends)

    async def _post(
        self,
        http: aiohttp.ClientSession,
        url: str,
        body: bytes | None,
        headers: dict[str, str] | None,
        payload: dict | None = None,
        shown: str | None = None,
    ) -> None:
        try:
            async with http.post(url, data=body, json=payload, headers=headers) as resp:
                await resp.read()
                if 200 <= resp.status < 300:
                    return
                error = f"HTTP {resp.status}"
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            error = f"{exc.__class__.__name__}: {exc}"[:200]
        self.failures += 1
        log.error("alert to %s failed: %s", shown or url, error)
