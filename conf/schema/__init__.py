"""The settings schema: every key Sluice reads, its type, default and rule.

Each section is a frozen pydantic model (conf.schema.base): validated once at
load, never changed after; a reload builds a new tree. Field rules are
annotated types (conf.schema.rules); rules across fields are each section's
``problems()``.
"""

from conf.schema.base import EnvText, Section, Unset
from conf.schema.feedback import FeedbackSettings, HealthSettings, PowerMtaSettings
from conf.schema.mailwizz import MailwizzServer, MailwizzSyncSettings
from conf.schema.rules import split_hostport
from conf.schema.server import (
    AdminToken,
    DownstreamSettings,
    HttpSettings,
    PolicySettings,
    SmtpSettings,
    TlsSettings,
)
from conf.schema.settings import Settings
from conf.schema.spool import SpoolSettings
from conf.schema.tenant import (
    MIN_TOKEN_SECRET,
    Credential,
    DkimSettings,
    FeedbackIdSettings,
    MailwizzApiSettings,
    TenantSettings,
    TrackingSettings,
    UnsubscribeSettings,
    WebhookSettings,
)
from conf.schema.warmup import (
    BUILTIN_SCHEDULES,
    SCHEDULE_GROUPS,
    AdvanceSettings,
    IpWarmup,
    PoolIp,
    WarmupSettings,
)

__all__ = [
    "BUILTIN_SCHEDULES",
    "MIN_TOKEN_SECRET",
    "SCHEDULE_GROUPS",
    "AdminToken",
    "AdvanceSettings",
    "Credential",
    "DkimSettings",
    "DownstreamSettings",
    "EnvText",
    "FeedbackIdSettings",
    "FeedbackSettings",
    "HealthSettings",
    "HttpSettings",
    "IpWarmup",
    "MailwizzApiSettings",
    "MailwizzServer",
    "MailwizzSyncSettings",
    "PolicySettings",
    "PoolIp",
    "PowerMtaSettings",
    "Section",
    "Settings",
    "SmtpSettings",
    "SpoolSettings",
    "TenantSettings",
    "TlsSettings",
    "TrackingSettings",
    "Unset",
    "UnsubscribeSettings",
    "WarmupSettings",
    "WebhookSettings",
    "split_hostport",
]
