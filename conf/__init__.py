"""Configuration: the settings schema, its defaults, and the YAML loader."""

from conf.loader import EMBEDDED, ConfigError, load, parse
from conf.schema import (
    AdminToken,
    Credential,
    DkimSettings,
    DownstreamSettings,
    HttpSettings,
    PoolIp,
    Settings,
    SmtpSettings,
    TenantSettings,
    TlsSettings,
    split_hostport,
)

__all__ = [
    "EMBEDDED",
    "AdminToken",
    "ConfigError",
    "Credential",
    "DkimSettings",
    "DownstreamSettings",
    "HttpSettings",
    "PoolIp",
    "Settings",
    "SmtpSettings",
    "TenantSettings",
    "TlsSettings",
    "load",
    "parse",
    "split_hostport",
]
