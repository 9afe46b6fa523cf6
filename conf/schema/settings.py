"""The whole configuration, and the rules that span its sections."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from conf.schema.ai import AiSettings
from conf.schema.alerts import AlertSettings
from conf.schema.base import Section
from conf.schema.dns_check import LOCAL_RESOLVER, DnsCheckSettings
from conf.schema.enrollment import EnrollmentTask
from conf.schema.feedback import FeedbackSettings, PowerMtaSettings
from conf.schema.mailwizz import MailwizzSyncSettings
from conf.schema.mailwizz import problems as mailwizz_problems
from conf.schema.providers import ProviderSettings
from conf.schema.replies import ReplySettings
from conf.schema.reputation import ReputationSettings
from conf.schema.rules import DatabaseUrl, PositiveFloat, RedisUrl
from conf.schema.scenarios import ScenarioSettings
from conf.schema.server import DownstreamSettings, HttpSettings, PolicySettings, SmtpSettings
from conf.schema.spool import SpoolSettings
from conf.schema.tenant import TenantSettings
from conf.schema.warmup import BUILTIN_SCHEDULES, PoolIp, WarmupSettings

Problems = list[tuple[str, str]]


class Settings(Section):
    smtp: SmtpSettings = SmtpSettings()
    http: HttpSettings = HttpSettings()
    database: DatabaseUrl = "sqlite:///var/sluice.db"
    redis: RedisUrl | None = None
    # Redis keys of this deployment start with this prefix (several may share one Redis).
    redis_prefix: str = "sluice:"
    # Seconds a counter call may wait on Redis before the recipient gets 451 4.3.0.
    # Refused connections fail at once; this bounds a Redis that hangs.
    redis_timeout: PositiveFloat = 1.0
    # Where events that could not reach the database by the end of a shutdown are
    # kept (one file per process); the next start writes them. null: counted, logged, lost.
    events_journal: str | None = Field(default="var/journal", min_length=1)
    downstream: DownstreamSettings = DownstreamSettings()
    tenants: tuple[TenantSettings, ...] = ()
    pools: dict[str, tuple[PoolIp, ...]] = Field(default_factory=dict)
    warmup: WarmupSettings = WarmupSettings()
    policy: PolicySettings = PolicySettings()
    feedback: FeedbackSettings = FeedbackSettings()
    powermta: PowerMtaSettings = PowerMtaSettings()
    # Where messages wait while PowerMTA cannot take them (gateway/spool.py).
    spool: SpoolSettings = SpoolSettings()
    # MailWizz delivery servers whose quotas Sluice keeps (scheduler/mailwizz_sync.py).
    mailwizz: MailwizzSyncSettings | None = None
    # DNS blocklists polled for the pools' IPs and tenants' domains (scheduler/reputation).
    reputation: ReputationSettings | None = None
    # SPF, DKIM, DMARC, PTR, MX and tracking DNS checked daily (scheduler/reputation/dnsauth.py).
    dns_check: DnsCheckSettings | None = None
    # Where alerts go beside the log: a signed webhook, Telegram (scheduler/alerts.py).
    alerts: AlertSettings = AlertSettings()
    # The scenario engine: rounds, claims, leases and retries (scheduler/scenarios/).
    scenarios: ScenarioSettings = ScenarioSettings()
    # Provider feedback: Microsoft SNDS (scheduler/reputation/snds.py).
    providers: ProviderSettings = ProviderSettings()
    # AI-written first lines (scheduler/personalization.py); no key: fallback lines.
    ai: AiSettings = AiSettings()
    # Replies to scenario mail: classification and IMAP mailboxes (scheduler/replies.py).
    replies: ReplySettings = ReplySettings()
    # Auto-enrollment of posted prospects (scheduler/enrollment.py); per tenant: enrollment.
    enrollment: EnrollmentTask = EnrollmentTask()
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    @property
    def dns_resolver(self) -> str:
        """The resolver the DNS authentication checks ask (conf/schema/dns_check.py)."""
        if self.dns_check is not None and self.dns_check.resolver is not None:
            return self.dns_check.resolver
        return self.reputation.resolver if self.reputation is not None else LOCAL_RESOLVER

    def problems(self) -> Problems:
        out = _tenant_problems(self) + _pool_problems(self) + _shared_pool_problems(self)
        out += _reply_problems(self)
        if self.smtp.workers > 1 and self.redis is None:
            out.append(("smtp.workers", "more than one worker needs shared counters: set redis"))
        if self.mailwizz is not None:
            out += [(f"mailwizz.{k}", text) for k, text in mailwizz_problems(self.mailwizz, self)]
        return out


def _tenant_problems(settings: Settings) -> Problems:
    out = []
    names: set[str] = set()
    users: set[str] = set()
    domains: dict[str, int] = {}
    for i, tenant in enumerate(settings.tenants):
        if tenant.name in names:
            out.append((f"tenants[{i}].name", f"duplicate tenant {tenant.name!r}"))
        names.add(tenant.name)
        for j, domain in enumerate(tenant.sender_domains):
            # "*" is a catch-all, not a claim; a named domain belongs to one tenant
            # (its DKIM key, its quota, its bounces).
            key = domain.lower()
            if key != "*" and (other := domains.setdefault(key, i)) != i:
                where = f"tenants[{i}].sender_domains[{j}]"
                out.append((where, f"{domain!r} is already a sender domain of tenants[{other}]"))
        if tenant.pool not in settings.pools:
            out.append((f"tenants[{i}].pool", f"no pool named {tenant.pool!r} in pools"))
        for j, cred in enumerate(tenant.credentials):
            if cred.username in users:
                where = f"tenants[{i}].credentials[{j}].username"
                out.append((where, f"username {cred.username!r} is used twice"))
            users.add(cred.username)
    return out


def _reply_problems(settings: Settings) -> Problems:
    out = []
    names = {t.name for t in settings.tenants}
    for k, box in enumerate(settings.replies.mailboxes):
        if box.tenant not in names:
            out.append((f"replies.mailboxes[{k}].tenant", f"no tenant named {box.tenant!r}"))
    domains: dict[str, int] = {}
    for i, tenant in enumerate(settings.tenants):
        if tenant.reply_domain is None:
            continue
        key = tenant.reply_domain.lower().rstrip(".")
        if (other := domains.setdefault(key, i)) != i:
            where = f"tenants[{i}].reply_domain"
            out.append((where, f"{key!r} is already the reply domain of tenants[{other}]"))
    return out


def _pool_problems(settings: Settings) -> Problems:
    out = []
    known = (*BUILTIN_SCHEDULES, *settings.warmup.schedules)
    # One IP is one VMTA of one pool: two entries would count its quota twice.
    where_ip: dict[str, str] = {}
    for name, ips in settings.pools.items():
        if not ips:
            out.append((f"pools.{name}", "a pool needs at least one IP"))
        seen: set[str] = set()
        for k, ip in enumerate(ips):
            if ip.vmta in seen:
                out.append((f"pools.{name}[{k}].vmta", f"duplicate VMTA {ip.vmta!r}"))
            seen.add(ip.vmta)
            first = where_ip.setdefault(ip.ip, f"pools.{name}[{k}]")
            if first != f"pools.{name}[{k}]":
                out.append((f"pools.{name}[{k}].ip", f"{ip.ip} is already listed at {first}"))
            if ip.warmup is not None and ip.warmup.schedule not in known:
                where = f"pools.{name}[{k}].warmup.schedule"
                text = f"no schedule named {ip.warmup.schedule!r} (known: {', '.join(known)})"
                out.append((where, text))
    for name, rotation in settings.warmup.rotation.items():
        if name not in settings.pools:
            out.append((f"warmup.rotation.{name}", f"no pool named {name!r} in pools"))
        if rotation.rewarm_schedule not in known:
            where = f"warmup.rotation.{name}.rewarm_schedule"
            text = f"no schedule named {rotation.rewarm_schedule!r} (known: {', '.join(known)})"
            out.append((where, text))
    return out


def _shared_pool_problems(settings: Settings) -> Problems:
    """Tenants sharing a pool share its IPs' "today" and their hourly pacing."""
    out = []
    zones: dict[str, tuple[str, int]] = {}
    pacing: dict[str, tuple[float, int]] = {}
    for i, tenant in enumerate(settings.tenants):
        # One IP, one "today": its quota keys and warmup days follow one zone.
        zone = tenant.timezone or settings.warmup.timezone
        first = zones.setdefault(tenant.pool, (zone, i))
        hours = tenant.sending_hours or settings.warmup.sending_hours
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
    return out
