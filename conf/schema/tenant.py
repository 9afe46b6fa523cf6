"""One tenant: who may send as it, what it signs with, and what is done to its mail."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field

from conf.schema.base import Section
from conf.schema.enrollment import IngestKey, TenantEnrollment
from conf.schema.rules import (
    DOMAIN,
    ApiUrl,
    Domains,
    FeedbackField,
    HeaderName,
    HostName,
    Hours,
    MailwizzUid,
    Networks,
    NotBlank,
    PasswordHash,
    PositiveFloat,
    SenderId,
    TimeZone,
    TrackingBase,
    WebhookSecret,
    WebUrl,
)

# policy.tokens refuses shorter secrets.
MIN_TOKEN_SECRET = 16


class Credential(Section):
    username: str
    password_hash: PasswordHash


class DkimSettings(Section):
    # "*" signs with d= set to each message's From domain (the embedded default).
    domain: str
    selector: str
    key_file: str
    # Create the key file on first start when it is missing.
    generate: Literal["rsa", "ed25519"] | None = None

    def problems(self) -> list[tuple[str, str]]:
        out = []
        if self.domain != "*" and not DOMAIN.match(self.domain.lower()):
            out.append(("domain", "not a domain name"))
        if not re.match(r"^[A-Za-z0-9][A-Za-z0-9._-]*$", self.selector):
            out.append(("selector", "not a DKIM selector"))
        if self.generate is None and not Path(self.key_file).is_file():
            out.append(("key_file", "file not found"))
        return out


class TrackingSettings(Section):
    # Where http.public_listen is reached from the internet; links are <base_url>/t/...
    base_url: TrackingBase
    opens: bool = True
    clicks: bool = True
    # Token keys, newest first: the first signs, every one verifies (rotation).
    secrets: tuple[str, ...] = ()
    # Leave alone a message whose sender already tracks it (MailWizz links).
    skip_if_tracked: bool = True
    # URLs never rewritten: fnmatch patterns, with or without the scheme.
    exclude: tuple[str, ...] = ()
    # Also rewrite bare URLs of text/plain parts.
    rewrite_text: bool = False

    def problems(self) -> list[tuple[str, str]]:
        if not self.secrets:
            return [("secrets", 'at least one secret is required, e.g. ["${SLUICE_TRACKING_KEY}"]')]
        out = []
        for i, secret in enumerate(self.secrets):
            if len(secret) < MIN_TOKEN_SECRET:
                out.append((f"secrets[{i}]", f"at least {MIN_TOKEN_SECRET} characters"))
        if len(set(self.secrets)) != len(self.secrets):
            out.append(("secrets", "a secret is listed twice"))
        return out


class MailwizzApiSettings(Section):
    # The MailWizz 2.x API base (with /index.php when MailWizz has no clean URLs).
    api_url: ApiUrl
    # Sent as X-API-KEY; take it from the environment: "${ACME_MAILWIZZ_API_KEY}".
    api_key: NotBlank = Field(repr=False)
    # Unsubscribe in this list only; absent: in every list of the key's customer
    # that holds the address (Sluice's suppression is tenant-wide too).
    list_uid: MailwizzUid | None = None
    # Seconds per API request.
    timeout: PositiveFloat = 15.0


class UnsubscribeSettings(Section):
    # List-Unsubscribe and List-Unsubscribe-Post (RFC 8058): add ours when the
    # sender sent none, replace the sender's with ours, or keep what came.
    headers: Literal["add", "replace", "keep"] = "add"
    # Also offer mailto:unsubscribe+<token>@<bounce_domain> when bounce_domain is set.
    mailto: bool = True
    # MailWizz's API, told of every unsubscribe (link, page, mailto:) and complaint;
    # absent: MailWizz learns of them only through mailwizz_dswh, if at all.
    mailwizz: MailwizzApiSettings | None = None


class FeedbackIdSettings(Section):
    # Feedback-ID: <campaign>:<tenant>:<mail_type>:<sender_id> (Gmail's feedback loop).
    sender_id: SenderId
    mail_type: FeedbackField = "bulk"
    # add: ours when the sender sent none or a per-recipient one; replace: always ours.
    headers: Literal["add", "replace"] = "add"


class WebhookSettings(Section):
    url: WebUrl
    # Signs each batch: X-Sluice-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "t.body">.
    secret: WebhookSecret
    # "replied": an interested or meeting-request reply to scenario mail (scheduler/replies.py).
    events: tuple[Literal["bounced", "complained", "auto_replied", "delayed", "replied"], ...] = (
        "bounced",
        "complained",
    )


class TenantSettings(Section):
    name: str
    pool: str
    credentials: tuple[Credential, ...] = ()
    # Clients allowed without AUTH, mapped to this tenant.
    trusted_networks: Networks = ()
    # Header From and envelope sender domains allowed ("*" allows any).
    sender_domains: Domains = ()
    dkim: tuple[DkimSettings, ...] = ()
    # The sender's campaign header copied into PowerMTA's job header.
    job_header: HeaderName = "X-Mw-Campaign-Uid"
    vmta_header: HeaderName = "X-Virtual-MTA"
    job_out_header: HeaderName = "X-Job"
    # Where this tenant's days of quota start and end, and when its warming IPs
    # advance; absent: warmup.timezone.
    timezone: TimeZone | None = None
    # The hours a day this tenant sends in: a warming IP's hourly limit is
    # daily / sending_hours * warmup.burst; absent: warmup.sending_hours.
    sending_hours: Hours | None = None
    # The domain of VERP envelope senders and mailto: unsubscribes, answered by
    # the inbound listener (e.g. bounce.acme-mail.com); absent: neither is used.
    bounce_domain: str | None = None
    # The domain of reply addresses (reply+<token>@reply.acme-mail.com) put in the
    # Reply-To of scenario mail and answered by the inbound listener; absent: none.
    reply_domain: HostName | None = None
    # Click and open tracking; its base_url and secrets also sign unsubscribe links.
    tracking: TrackingSettings | None = None
    # List-Unsubscribe headers; absent: the sender's are left as they are.
    unsubscribe: UnsubscribeSettings | None = None
    # Feedback-ID; absent: the sender's is left as it is.
    feedback_id: FeedbackIdSettings | None = None
    # MailWizz's PowerMTA delivery-server webhook (https://mw.example/index.php/dswh/pmta):
    # classified bounces and complaints are posted there; absent: MailWizz is not told.
    mailwizz_dswh: WebUrl | None = None
    # Outbound webhooks: batched JSON of this tenant's feedback events, HMAC-signed.
    webhooks: tuple[WebhookSettings, ...] = ()
    # Keys of POST /api/prospects/<tenant> (X-Api-Key), as SHA-256 digests; several rotate.
    ingest_keys: tuple[IngestKey, ...] = ()
    # Auto-enrollment's initial settings (the API's changes are stored and win).
    enrollment: TenantEnrollment = TenantEnrollment()

    def problems(self) -> list[tuple[str, str]]:
        out = []
        if not re.match(r"^[a-z0-9][a-z0-9_-]{0,62}$", self.name):
            out.append(("name", "use lowercase letters, digits, - and _ (at most 63)"))
        if not self.sender_domains:
            out.append(("sender_domains", "at least one domain is required"))
        if not self.credentials and not self.trusted_networks:
            out.append(("credentials", "a tenant needs credentials or trusted_networks"))
        names = [k.name for k in self.ingest_keys]
        if len(set(names)) != len(names):
            out.append(("ingest_keys", "a key name is listed twice"))
        if self.unsubscribe is not None and self.unsubscribe.headers != "keep":
            if self.tracking is None:
                out.append(("unsubscribe", "needs a tracking block: its base_url and secrets"))
        if self.reply_domain is not None and self.tracking is None:
            out.append(("reply_domain", "needs a tracking block: its secrets sign reply tokens"))
        return out
