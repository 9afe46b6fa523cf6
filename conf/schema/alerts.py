"""The ``alerts:`` section: where Sluice tells an operator that something needs a look.

Every alert is logged; with ``webhook`` it is also posted as JSON, signed
like the feedback webhooks (``X-Sluice-Signature: t=<unix time>,v1=<hex>``,
HMAC-SHA256 of ``"<t>.<body>"``), and with ``telegram`` sent through a bot
(``api_url`` is configurable so a test, or a proxy, can stand in). An alert
is sent once while its condition lasts (again after ``repeat`` seconds),
with a resolved message when it ends, and at most ``max_per_minute`` go out
a minute (the rest are only logged). Today: DNS blocklist listings and
delistings, a blocklist failing its canary (scheduler/reputation), SNDS and
Postmaster Tools findings, DNS checks, a stalled task, PowerMTA down, a growing
spool and an exhausted tenant quota (scheduler/conditions).
"""

from __future__ import annotations

from pydantic import Field

from conf.schema.base import Section
from conf.schema.rules import NotBlank, WebhookSecret, WebUrl


class AlertWebhook(Section):
    url: WebUrl
    secret: WebhookSecret


class TelegramSettings(Section):
    bot_token: NotBlank
    chat_id: NotBlank
    api_url: WebUrl = "https://api.telegram.org"


class AlertSettings(Section):
    webhook: AlertWebhook | None = None
    telegram: TelegramSettings | None = None
    # Seconds before a condition still going on is announced again.
    repeat: float = Field(default=86_400.0, gt=0)
    # Beyond this many a minute, alerts are only logged (a flood helps no one).
    max_per_minute: int = Field(default=20, gt=0)
    # Seconds a webhook or Telegram request may take.
    timeout: float = Field(default=10.0, gt=0)
    # Seconds PowerMTA may be unreachable (its breaker open) before it is an alert.
    downstream_down_after: float = Field(default=300.0, gt=0)
    # Seconds the fallback spool (all processes' folders) must only grow before it is one.
    spool_growing_after: float = Field(default=900.0, gt=0)
    # A tenant whose pool has nothing left today alerts (quota-exhausted:TENANT), unless
    # fewer than this many seconds of its day remain.
    quota_quiet_before_day_end: float = Field(default=7200.0, ge=0)
