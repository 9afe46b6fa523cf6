"""Configuration: the settings schema, its defaults, and the YAML loader."""

from conf.loader import EMBEDDED, ConfigError, load, parse
from conf.schema import (
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
