"""What comes back (bounces, complaints, accounting), IP health, and PowerMTA's side."""

from __future__ import annotations

from conf.schema.base import Section
from conf.schema.rules import Network, PositiveFloat, PositiveInt, Rate

WEBHOOK_TOKEN_MIN = 32


class HealthSettings(Section):
    # Rolling rates per IP and provider group, over 1 h and over 24 h; a rate is
    # judged only once its window relayed min_sample messages.
    min_sample: PositiveInt = 200
    bounce_rate: Rate = 0.05  # quarantine above
    complaint_warn: Rate = 0.001
    complaint_quarantine: Rate = 0.003
    deferral_warn: Rate = 0.3  # throttle above
    # A throttled IP keeps this share of the hourly rate it was sending to the provider.
    throttle_share: Rate = 0.5
    measure_hours: PositiveFloat = 6.0
    interval: PositiveFloat = 60.0


class FeedbackSettings(Section):
    # Secrets of the VERP return paths, newest first (the first signs, all verify).
    # Empty: relayed mail keeps the sender's envelope sender.
    verp_secrets: tuple[str, ...] = ()
    # How long a VERP token stays good: bounces and complaints arrive within days;
    # an older token (or a stolen one) acts on nothing.
    verp_max_age: PositiveFloat = 2_592_000.0
    # Durable inbox of the inbound listener; each message is fsynced before 250.
    inbox: str = "var/inbox"
    inbox_keep_days: PositiveFloat = 7.0
    poll_interval: PositiveFloat = 1.0
    # The inbound listener: a DSN or ARF report carries at most the original
    # message; a few MB is room for any campaign mail and no more.
    max_message_size: PositiveInt = 10_485_760
    # Per client address: open connections, and messages accepted per minute.
    inbound_max_connections_per_client: PositiveInt = 10
    inbound_messages_per_minute: PositiveInt = 120
    # Plain local parts accepted at a bounce domain besides bounces+<token> and
    # unsubscribe+<token>; any other recipient gets 550 5.1.1.
    inbound_mailboxes: tuple[str, ...] = ("postmaster", "abuse", "fbl")
    # soft_bounce_limit soft bounces within soft_bounce_window seconds suppress
    # the recipient for soft_bounce_expiry seconds.
    soft_bounce_limit: PositiveInt = 3
    soft_bounce_window: PositiveFloat = 604_800.0
    soft_bounce_expiry: PositiveFloat = 2_592_000.0
    # PowerMTA accounting files to tail; null: not read.
    accounting_folder: str | None = None
    # acct.csv is the file PowerMTA writes; acct-<date>.csv the ones it moved away.
    accounting_pattern: str = "acct*.csv"
    # Bearer token of POST /api/webhooks/powermta; null: the webhook is off.
    # At least 32 characters: it is guessable online otherwise (wrong tries are braked too).
    webhook_token: str | None = None
    health: HealthSettings = HealthSettings()

    def problems(self) -> list[tuple[str, str]]:
        out = []
        for i, secret in enumerate(self.verp_secrets):
            if len(secret) < 16:
                out.append((f"verp_secrets[{i}]", "must be at least 16 characters"))
        if self.webhook_token is not None and len(self.webhook_token) < WEBHOOK_TOKEN_MIN:
            text = f"must be at least {WEBHOOK_TOKEN_MIN} characters (e.g. openssl rand -hex 24)"
            out.append(("webhook_token", text))
        if self.health.complaint_warn > self.health.complaint_quarantine:
            out.append(("health.complaint_warn", "must not exceed complaint_quarantine"))
        return out


class PowerMtaSettings(Section):
    # What "sluice powermta-config" needs to know about the PowerMTA side.
    # Sluice's address as PowerMTA sees it (an IP or a network): its <source> block.
    # Absent: 127.0.0.1 (or ::1) when downstream.host is loopback; otherwise it must be set.
    source_address: Network | None = None
    # The accounting file PowerMTA writes for Sluice, as a path on the PowerMTA host.
    # Absent: acct.csv in feedback.accounting_folder (or in /var/log/pmta).
    accounting_file: str | None = None
    # PowerMTA signs too, with the tenants' RSA keys (domain-key, dkim-sign).
    dkim_sign: bool = False
    # The folder holding the key files on the PowerMTA host; absent: the key_file paths.
    dkim_key_folder: str | None = None
