"""The settings schema: every key Sluice reads, its type, default and rule.

Each dataclass is frozen: settings are validated once at load and never
change; a reload builds a new tree. A field's ``check`` (in its metadata)
returns an error text or None; a class's ``problems()`` returns cross-field
errors as ``(relative key path, text)`` pairs.
"""

from __future__ import annotations

import ipaddress
import re
import urllib.parse
import zoneinfo
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Literal

HOSTPORT = re.compile(r"^(?:\[(?P<v6>[0-9a-fA-F:.]+)\]|(?P<host>[^:\[\]]+)):(?P<port>\d{1,5})$")
DOMAIN = re.compile(r"^(?=.{1,253}$)(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))*$")
HEADER_NAME = re.compile(r"^[!-9;-~]+$")


def split_hostport(value: str) -> tuple[str, int]:
    match = HOSTPORT.match(value)
    if not match:
        raise ValueError(value)
    return match["v6"] or match["host"], int(match["port"])


def _hostport(value: str) -> str | None:
    try:
        _, port = split_hostport(value)
    except ValueError:
        return 'must be "host:port" (for IPv6 "[::1]:port")'
    return None if 0 <= port < 65536 else "port must be 0-65535"


def _positive(value: float) -> str | None:
    return None if value > 0 else "must be greater than 0"


def _port(value: int) -> str | None:
    return None if 0 < value < 65536 else "must be 1-65535"


def _network(value: str) -> str | None:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return "not an IP network (e.g. 10.0.0.0/8 or 2001:db8::/32)"
    return None


def _networks(values: tuple[str, ...]) -> str | None:
    bad = [v for v in values if _network(v)]
    return f"not IP networks: {', '.join(bad)}" if bad else None


def _ip(value: str) -> str | None:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return "not an IP address"
    return None


def _domains(values: tuple[str, ...]) -> str | None:
    bad = [v for v in values if v != "*" and not DOMAIN.match(v.lower().removeprefix("*."))]
    return f"not domain names: {', '.join(bad)}" if bad else None


def _header(value: str) -> str | None:
    return None if HEADER_NAME.match(value) else "not a header field name"


def _existing_file(value: str) -> str | None:
    return None if Path(value).is_file() else "file not found"


def _password_hash(value: str) -> str | None:
    if value.startswith("scrypt$") and value.count("$") == 5:
        return None
    return 'must be an scrypt hash ("sluice hash-password" makes one)'


def _url(schemes: tuple[str, ...]):
    def check(value: str) -> str | None:
        if any(value.startswith(s + "://") for s in schemes):
            return None
        return f"must start with {' or '.join(s + '://' for s in schemes)}"

    return check


def _iso_date(value: str) -> str | None:
    try:
        date.fromisoformat(value)
    except ValueError:
        return 'not a date (write it as "YYYY-MM-DD", e.g. "2026-11-20")'
    return None


def _timezone(value: str) -> str | None:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return 'not an IANA time zone (e.g. "UTC" or "Europe/Paris")'
    return None


def _hours(value: float) -> str | None:
    return None if 0 < value <= 24 else "must be more than 0 and at most 24"


def check(fn) -> dict:
    return {"check": fn}


@dataclass(frozen=True)
class TlsSettings:
    cert_file: str = field(metadata=check(_existing_file))
    key_file: str = field(metadata=check(_existing_file))


@dataclass(frozen=True)
class SmtpSettings:
    listen: str = field(default="127.0.0.1:2525", metadata=check(_hostport))
    hostname: str = "localhost"
    max_message_size: int = field(default=26_214_400, metadata=check(_positive))
    max_connections: int = field(default=500, metadata=check(_positive))
    max_connections_per_client: int = field(default=50, metadata=check(_positive))
    # Processes sharing the listening port with SO_REUSEPORT.
    workers: int = field(default=1, metadata=check(_positive))
    tls: TlsSettings | None = None
    # Idle time allowed between client commands (RFC 5321 §4.5.3.2 asks 5 minutes).
    timeout: float = field(default=300.0, metadata=check(_positive))
    # SIGTERM: how long in-flight transactions may take to finish.
    drain_timeout: float = field(default=30.0, metadata=check(_positive))
    # Bare CR or LF in DATA: rewrite to CRLF, or refuse with 550 5.5.2.
    line_endings: Literal["normalize", "reject"] = "normalize"
    # Failed AUTH attempts per client address before it is turned away for auth_lockout seconds.
    auth_failure_limit: int = field(default=5, metadata=check(_positive))
    auth_lockout: float = field(default=300.0, metadata=check(_positive))
    max_recipients: int = field(default=1000, metadata=check(_positive))
    # The listener for DSNs, complaints and mailto: unsubscribes to the tenants'
    # bounce domains (e.g. "0.0.0.0:25"); null: not started.
    inbound_listen: str | None = field(default=None, metadata=check(_hostport))
    # The host name senders (MailWizz) connect to, when it is not smtp.hostname
    # (a load balancer or a NAT in front); absent: smtp.hostname.
    advertised_host: str | None = None


def _sha256_hex(value: str) -> str | None:
    if re.fullmatch(r"[0-9a-f]{64}", value):
        return None
    return 'must be 64 lowercase hex digits ("sluice hash-token" makes one)'


@dataclass(frozen=True)
class AdminToken:
    name: str  # who, in the audit log
    # The SHA-256 of the bearer token: the file never holds the token itself.
    token_sha256: str = field(metadata=check(_sha256_hex))
    # viewer reads; operator also acts on IPs, switches and suppression; admin also reloads.
    role: Literal["admin", "operator", "viewer"] = "viewer"


@dataclass(frozen=True)
class HttpSettings:
    admin_listen: str = field(default="127.0.0.1:8025", metadata=check(_hostport))
    public_listen: str = field(default="127.0.0.1:8080", metadata=check(_hostport))
    # Bearer tokens of the admin API and the status page; none: both refuse everyone.
    admin_tokens: tuple[AdminToken, ...] = ()
    # Failed logins per client address before each further try waits auth_lockout seconds.
    auth_failure_limit: int = field(default=5, metadata=check(_positive))
    auth_lockout: float = field(default=60.0, metadata=check(_positive))
    # Seconds a status-page login lasts.
    session_ttl: float = field(default=43200.0, metadata=check(_positive))

    def problems(self) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        names: set[str] = set()
        for i, token in enumerate(self.admin_tokens):
            if token.name in names:
                out.append((f"admin_tokens[{i}].name", f"duplicate token name {token.name!r}"))
            names.add(token.name)
        return out


@dataclass(frozen=True)
class DownstreamSettings:
    # When set, messages go to this outbox folder instead of an MTA (dry run).
    sink: str | None = None
    # Where a dry-run switch sends a tenant's messages instead of the MTA.
    dry_run_outbox: str = "var/dry-run"
    host: str = "127.0.0.1"
    port: int = field(default=25, metadata=check(_port))
    pool_size: int = field(default=20, metadata=check(_positive))
    # Seconds one relay may take, from taking a connection to the reply to ".".
    timeout: float = field(default=60.0, metadata=check(_positive))
    connect_timeout: float = field(default=5.0, metadata=check(_positive))
    starttls: bool = False
    username: str | None = None
    password: str | None = None
    helo: str | None = None
    # Circuit breaker: consecutive connection failures that open it, and the
    # seconds it stays open before one probe is let through.
    breaker_failures: int = field(default=5, metadata=check(_positive))
    breaker_reset: float = field(default=5.0, metadata=check(_positive))
    # Idle pooled connections older than this are closed rather than reused.
    max_idle: float = field(default=30.0, metadata=check(_positive))


@dataclass(frozen=True)
class Credential:
    username: str
    password_hash: str = field(metadata=check(_password_hash))


@dataclass(frozen=True)
class DkimSettings:
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


# A host (or [IPv6]), an optional port and path: it goes into HTML attributes unescaped.
TRACKING_BASE = re.compile(
    r"^https?://(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?(?:/[A-Za-z0-9._~%/-]*)?$"
)
# policy.tokens refuses shorter secrets.
MIN_TOKEN_SECRET = 16
FEEDBACK_FIELD = re.compile(r"^[A-Za-z0-9._-]*$")
MAILWIZZ_UID = re.compile(r"^[a-z0-9]{1,64}$")


def _tracking_base(value: str) -> str | None:
    if TRACKING_BASE.match(value):
        return None
    return 'must be a plain http(s) URL, e.g. "https://t.acme-mail.com"'


def _feedback_field(value: str) -> str | None:
    return None if FEEDBACK_FIELD.match(value) else "use letters, digits, '.', '_' and '-'"


def _sender_id(value: str) -> str | None:
    if 5 <= len(value) <= 15 and FEEDBACK_FIELD.match(value):
        return None
    return "Google's SenderId: 5 to 15 letters, digits, '.', '_' or '-'"


@dataclass(frozen=True)
class TrackingSettings:
    # Where http.public_listen is reached from the internet; links are <base_url>/t/...
    base_url: str = field(metadata=check(_tracking_base))
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


def _api_url(value: str) -> str | None:
    parts = urllib.parse.urlsplit(value)
    if parts.scheme in ("http", "https") and parts.netloc and not (parts.query or parts.fragment):
        return None
    return 'must be the http(s) URL of the API, e.g. "https://mw.acme-mail.com/api"'


def _mailwizz_uid(value: str) -> str | None:
    return None if MAILWIZZ_UID.match(value) else "a MailWizz uid: lowercase letters and digits"


@dataclass(frozen=True)
class MailwizzApiSettings:
    # The MailWizz 2.x API base (with /index.php when MailWizz has no clean URLs).
    api_url: str = field(metadata=check(_api_url))
    # Sent as X-API-KEY; take it from the environment: "${ACME_MAILWIZZ_API_KEY}".
    api_key: str = field(
        repr=False, metadata=check(lambda v: None if v.strip() else "must not be empty")
    )
    # Unsubscribe in this list only; absent: in every list of the key's customer
    # that holds the address (Sluice's suppression is tenant-wide too).
    list_uid: str | None = field(default=None, metadata=check(_mailwizz_uid))
    # Seconds per API request.
    timeout: float = field(default=15.0, metadata=check(_positive))


@dataclass(frozen=True)
class UnsubscribeSettings:
    # List-Unsubscribe and List-Unsubscribe-Post (RFC 8058): add ours when the
    # sender sent none, replace the sender's with ours, or keep what came.
    headers: Literal["add", "replace", "keep"] = "add"
    # Also offer mailto:unsubscribe+<token>@<bounce_domain> when bounce_domain is set.
    mailto: bool = True
    # MailWizz's API, told of every unsubscribe (link, page, mailto:) and complaint;
    # absent: MailWizz learns of them only through mailwizz_dswh, if at all.
    mailwizz: MailwizzApiSettings | None = None


@dataclass(frozen=True)
class FeedbackIdSettings:
    # Feedback-ID: <campaign>:<tenant>:<mail_type>:<sender_id> (Gmail's feedback loop).
    sender_id: str = field(metadata=check(_sender_id))
    mail_type: str = field(default="bulk", metadata=check(_feedback_field))
    # add: ours when the sender sent none or a per-recipient one; replace: always ours.
    headers: Literal["add", "replace"] = "add"


@dataclass(frozen=True)
class WebhookSettings:
    url: str = field(metadata=check(_url(("http", "https"))))
    # Signs each batch: X-Sluice-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "t.body">.
    secret: str = field(metadata=check(lambda v: None if len(v) >= 16 else "16+ characters"))
    events: tuple[Literal["bounced", "complained", "auto_replied", "delayed"], ...] = (
        "bounced",
        "complained",
    )


@dataclass(frozen=True)
class TenantSettings:
    name: str
    pool: str
    credentials: tuple[Credential, ...] = ()
    # Clients allowed without AUTH, mapped to this tenant.
    trusted_networks: tuple[str, ...] = field(default=(), metadata=check(_networks))
    # Header From and envelope sender domains allowed ("*" allows any).
    sender_domains: tuple[str, ...] = field(default=(), metadata=check(_domains))
    dkim: tuple[DkimSettings, ...] = ()
    # The sender's campaign header copied into PowerMTA's job header.
    job_header: str = field(default="X-Mw-Campaign-Uid", metadata=check(_header))
    vmta_header: str = field(default="X-Virtual-MTA", metadata=check(_header))
    job_out_header: str = field(default="X-Job", metadata=check(_header))
    # Where this tenant's days of quota start and end, and when its warming IPs
    # advance; absent: warmup.timezone.
    timezone: str | None = field(default=None, metadata=check(_timezone))
    # The hours a day this tenant sends in: a warming IP's hourly limit is
    # daily / sending_hours * warmup.burst; absent: warmup.sending_hours.
    sending_hours: float | None = field(default=None, metadata=check(_hours))
    # The domain of VERP envelope senders and mailto: unsubscribes, answered by
    # the inbound listener (e.g. bounce.acme-mail.com); absent: neither is used.
    bounce_domain: str | None = None
    # Click and open tracking; its base_url and secrets also sign unsubscribe links.
    tracking: TrackingSettings | None = None
    # List-Unsubscribe headers; absent: the sender's are left as they are.
    unsubscribe: UnsubscribeSettings | None = None
    # Feedback-ID; absent: the sender's is left as it is.
    feedback_id: FeedbackIdSettings | None = None
    # MailWizz's PowerMTA delivery-server webhook (https://mw.example/index.php/dswh/pmta):
    # classified bounces and complaints are posted there; absent: MailWizz is not told.
    mailwizz_dswh: str | None = field(default=None, metadata=check(_url(("http", "https"))))
    # Outbound webhooks: batched JSON of this tenant's feedback events, HMAC-signed.
    webhooks: tuple[WebhookSettings, ...] = ()

    def problems(self) -> list[tuple[str, str]]:
        out = []
        if not re.match(r"^[a-z0-9][a-z0-9_-]{0,62}$", self.name):
            out.append(("name", "use lowercase letters, digits, - and _ (at most 63)"))
        if not self.sender_domains:
            out.append(("sender_domains", "at least one domain is required"))
        if not self.credentials and not self.trusted_networks:
            out.append(("credentials", "a tenant needs credentials or trusted_networks"))
        if self.unsubscribe is not None and self.unsubscribe.headers != "keep":
            if self.tracking is None:
                out.append(("unsubscribe", "needs a tracking block: its base_url and secrets"))
        return out


# The schedules policy.warmup ships (DEFAULT_SCHEDULES); a test keeps the two in step.
BUILTIN_SCHEDULES = ("standard",)
# "default" is the schedule's total for the IP; the others are policy.providers' groups.
SCHEDULE_GROUPS = (
    "default",
    "google",
    "microsoft",
    "yahoo",
    "apple",
    "gmx_webde",
    "orange",
    "comcast",
    "other",
)


def _share(value: float) -> str | None:
    return None if 0 <= value <= 1 else "must be between 0 and 1"


@dataclass(frozen=True)
class AdvanceSettings:
    # When a warming IP's day counts as healthy enough to advance (see
    # policy.warmup.Thresholds for where the defaults come from). Rates are shares:
    # 0.05 is 5 %.
    bounce_hold: float = field(default=0.05, metadata=check(_share))
    bounce_step_back: float = field(default=0.10, metadata=check(_share))
    complaint_hold: float = field(default=0.001, metadata=check(_share))
    complaint_step_back: float = field(default=0.003, metadata=check(_share))
    # Below this many messages a rate is taken over this many, so 1 bounce in 10 is not 10 %.
    min_sample: int = field(default=100, metadata=check(_positive))
    # The share of the day's quota an IP must have used to advance.
    min_quota_share: float = field(default=0.5, metadata=check(_share))
    step_back_days: int = field(default=1, metadata=check(_positive))
    # An IP silent this long (warm or warming) starts again at day 1.
    idle_restart_days: int = field(default=30, metadata=check(_positive))

    def problems(self) -> list[tuple[str, str]]:
        out = []
        if self.bounce_hold > self.bounce_step_back:
            out.append(("bounce_hold", "must not exceed bounce_step_back"))
        if self.complaint_hold > self.complaint_step_back:
            out.append(("complaint_hold", "must not exceed complaint_step_back"))
        return out


@dataclass(frozen=True)
class WarmupSettings:
    # name -> provider group -> daily limit per warmup day (day 1 first). These
    # add to (or replace, by name) the built-in schedules.
    schedules: dict[str, dict[str, tuple[int, ...]]] = field(default_factory=dict)
    # A warming IP may send daily / sending_hours * burst messages in one hour.
    sending_hours: float = field(default=16.0, metadata=check(_hours))
    burst: float = field(default=1.25, metadata=check(_positive))
    # Where a day and an hour of quota start and end.
    timezone: str = field(default="UTC", metadata=check(_timezone))
    # The longest a recipient waits on the MX lookup that finds its provider.
    dns_budget: float = field(default=0.5, metadata=check(_positive))
    # How the warmup clock judges a day, and how often it looks at the time.
    advance: AdvanceSettings = AdvanceSettings()
    clock_interval: float = field(default=60.0, metadata=check(_positive))

    def problems(self) -> list[tuple[str, str]]:
        out = []
        for name, groups in self.schedules.items():
            if "default" not in groups:
                out.append((f"schedules.{name}", 'a schedule needs a "default" list'))
            for group, limits in groups.items():
                where = f"schedules.{name}.{group}"
                if group not in SCHEDULE_GROUPS:
                    out.append((where, f"unknown group (known: {', '.join(SCHEDULE_GROUPS)})"))
                if not limits:
                    out.append((where, "needs at least one day"))
                for day, value in enumerate(limits):
                    if value < 1:
                        out.append((f"{where}[{day}]", "must be greater than 0"))
                    elif day and value < limits[day - 1]:
                        # A drop is far more often a typo than a plan.
                        out.append(
                            (f"{where}[{day}]", f"lower than the day before ({limits[day - 1]})")
                        )
        return out


@dataclass(frozen=True)
class IpWarmup:
    # The first day of warming; the warmup day counts from it.
    started: str = field(metadata=check(_iso_date))
    schedule: str = "standard"


@dataclass(frozen=True)
class PoolIp:
    ip: str = field(metadata=check(_ip))
    vmta: str
    hostname: str
    enabled: bool = True
    # Absent: the IP is warm. Present: it follows the schedule until its end.
    warmup: IpWarmup | None = None
    # A cap on messages per day, warming or warm; absent on a warm IP: no limit.
    daily_limit: int | None = field(default=None, metadata=check(_positive))


def _rate(value: float) -> str | None:
    return None if 0 < value <= 1 else "must be a fraction: more than 0 and at most 1"


@dataclass(frozen=True)
class HealthSettings:
    # Rolling rates per IP and provider group, over 1 h and over 24 h; a rate is
    # judged only once its window relayed min_sample messages.
    min_sample: int = field(default=200, metadata=check(_positive))
    bounce_rate: float = field(default=0.05, metadata=check(_rate))  # quarantine above
    complaint_warn: float = field(default=0.001, metadata=check(_rate))
    complaint_quarantine: float = field(default=0.003, metadata=check(_rate))
    deferral_warn: float = field(default=0.3, metadata=check(_rate))  # throttle above
    # A throttled IP keeps this share of the hourly rate it was sending to the provider.
    throttle_share: float = field(default=0.5, metadata=check(_rate))
    measure_hours: float = field(default=6.0, metadata=check(_positive))
    interval: float = field(default=60.0, metadata=check(_positive))


@dataclass(frozen=True)
class FeedbackSettings:
    # Secrets of the VERP return paths, newest first (the first signs, all verify).
    # Empty: relayed mail keeps the sender's envelope sender.
    verp_secrets: tuple[str, ...] = ()
    # Durable inbox of the inbound listener; each message is fsynced before 250.
    inbox: str = "var/inbox"
    inbox_keep_days: float = field(default=7.0, metadata=check(_positive))
    poll_interval: float = field(default=1.0, metadata=check(_positive))
    max_message_size: int = field(default=67_108_864, metadata=check(_positive))
    # soft_bounce_limit soft bounces within soft_bounce_window seconds suppress
    # the recipient for soft_bounce_expiry seconds.
    soft_bounce_limit: int = field(default=3, metadata=check(_positive))
    soft_bounce_window: float = field(default=604_800.0, metadata=check(_positive))
    soft_bounce_expiry: float = field(default=2_592_000.0, metadata=check(_positive))
    # PowerMTA accounting files to tail; null: not read.
    accounting_folder: str | None = None
    # acct.csv is the file PowerMTA writes; acct-<date>.csv the ones it moved away.
    accounting_pattern: str = "acct*.csv"
    # Bearer token of POST /api/webhooks/powermta; null: the webhook is off.
    webhook_token: str | None = None
    health: HealthSettings = HealthSettings()

    def problems(self) -> list[tuple[str, str]]:
        out = []
        for i, secret in enumerate(self.verp_secrets):
            if len(secret) < 16:
                out.append((f"verp_secrets[{i}]", "must be at least 16 characters"))
        if self.health.complaint_warn > self.health.complaint_quarantine:
            out.append(("health.complaint_warn", "must not exceed complaint_quarantine"))
        return out


@dataclass(frozen=True)
class PowerMtaSettings:
    # What "sluice powermta-config" needs to know about the PowerMTA side.
    # Sluice's address as PowerMTA sees it (an IP or a network): its <source> block.
    # Absent: 127.0.0.1 (or ::1) when downstream.host is loopback; otherwise it must be set.
    source_address: str | None = field(default=None, metadata=check(_network))
    # The accounting file PowerMTA writes for Sluice, as a path on the PowerMTA host.
    # Absent: acct.csv in feedback.accounting_folder (or in /var/log/pmta).
    accounting_file: str | None = None
    # PowerMTA signs too, with the tenants' RSA keys (domain-key, dkim-sign).
    dkim_sign: bool = False
    # The folder holding the key files on the PowerMTA host; absent: the key_file paths.
    dkim_key_folder: str | None = None


@dataclass(frozen=True)
class PolicySettings:
    # Each process re-reads switches, IP states and new suppressions this often:
    # a kill switch takes effect everywhere within this many seconds.
    refresh: float = field(default=0.5, metadata=check(_positive))
    # With the store unreachable, mail flows on the cached policy this long,
    # then waits (451 4.3.0) rather than risk mailing a suppressed address.
    max_stale: float = field(default=300.0, metadata=check(_positive))


@dataclass(frozen=True)
class Settings:
    smtp: SmtpSettings = SmtpSettings()
    http: HttpSettings = HttpSettings()
    database: str = field(
        default="sqlite:///var/sluice.db", metadata=check(_url(("sqlite", "postgresql")))
    )
    redis: str | None = field(default=None, metadata=check(_url(("redis", "rediss", "unix"))))
    # Redis keys of this deployment start with this prefix (several may share one Redis).
    redis_prefix: str = "sluice:"
    # Seconds a counter call may wait on Redis before the recipient gets 451 4.3.0.
    # Refused connections fail at once; this bounds a Redis that hangs.
    redis_timeout: float = field(default=1.0, metadata=check(_positive))
    downstream: DownstreamSettings = DownstreamSettings()
    tenants: tuple[TenantSettings, ...] = ()
    pools: dict[str, tuple[PoolIp, ...]] = field(default_factory=dict)
    warmup: WarmupSettings = WarmupSettings()
    policy: PolicySettings = PolicySettings()
    feedback: FeedbackSettings = FeedbackSettings()
    powermta: PowerMtaSettings = PowerMtaSettings()
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    def problems(self) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        names: set[str] = set()
        users: set[str] = set()
        for i, tenant in enumerate(self.tenants):
            if tenant.name in names:
                out.append((f"tenants[{i}].name", f"duplicate tenant {tenant.name!r}"))
            names.add(tenant.name)
            if tenant.pool not in self.pools:
                out.append((f"tenants[{i}].pool", f"no pool named {tenant.pool!r} in pools"))
            for j, cred in enumerate(tenant.credentials):
                if cred.username in users:
                    where = f"tenants[{i}].credentials[{j}].username"
                    out.append((where, f"username {cred.username!r} is used twice"))
                users.add(cred.username)
        for name, ips in self.pools.items():
            if not ips:
                out.append((f"pools.{name}", "a pool needs at least one IP"))
            seen: set[str] = set()
            for k, ip in enumerate(ips):
                if ip.vmta in seen:
                    out.append((f"pools.{name}[{k}].vmta", f"duplicate VMTA {ip.vmta!r}"))
                seen.add(ip.vmta)
                known = (*BUILTIN_SCHEDULES, *self.warmup.schedules)
                if ip.warmup is not None and ip.warmup.schedule not in known:
                    out.append(
                        (
                            f"pools.{name}[{k}].warmup.schedule",
                            f"no schedule named {ip.warmup.schedule!r} (known: {', '.join(known)})",
                        )
                    )
        zones: dict[str, tuple[str, int]] = {}
        pacing: dict[str, tuple[float, int]] = {}
        for i, tenant in enumerate(self.tenants):
            # One IP, one "today": its quota keys and warmup days follow one zone.
            zone = tenant.timezone or self.warmup.timezone
            first = zones.setdefault(tenant.pool, (zone, i))
            hours = tenant.sending_hours or self.warmup.sending_hours
            first_hours = pacing.setdefault(tenant.pool, (hours, i))
            if first_hours[0] != hours:
                out.append(
                    (
                        f"tenants[{i}].sending_hours",
                        f"pool {tenant.pool!r} is shared with tenants[{first_hours[1]}], which"
                        f" sends over {first_hours[0]:g} hours: tenants sharing a pool share it",
                    )
                )
            if first[0] != zone:
                out.append(
                    (
                        f"tenants[{i}].timezone",
                        f"pool {tenant.pool!r} is shared with tenants[{first[1]}], whose"
                        f" time zone is {first[0]!r}: tenants sharing a pool share a zone",
                    )
                )
        if self.smtp.workers > 1 and self.redis is None:
            out.append(("smtp.workers", "more than one worker needs shared counters: set redis"))
        return out
