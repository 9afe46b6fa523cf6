"""The `mailwizz:` section: which MailWizz delivery servers Sluice keeps the quotas of.

MailWizz never retries a 4xx, so the quota has to stop it before Sluice
refuses: each delivery server that relays through Sluice is mapped to a
tenant (its whole pool, or some of the pool's IPs), and the sync task
(`scheduler/mailwizz_sync.py`) writes that capacity into MailWizz's
``delivery_server`` table. A pydantic model: each key is checked here;
that a tenant exists and an IP is in its pool needs the whole settings
(``problems``).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated
from urllib.parse import unquote, urlsplit

from pydantic import Field, field_validator

from conf.schema.base import Section

if TYPE_CHECKING:
    from conf.schema import Settings

TENANT_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")  # as conf.schema's tenants
OFFSET = re.compile(r"^[+-](0\d|1[0-4]):[0-5]\d$")


class MailwizzServer(Section):
    """One MailWizz delivery server (its `server_id`) and what of Sluice's it may use."""

    server_id: Annotated[int, Field(strict=True, gt=0, lt=2**31)]
    tenant: str
    # Some of the tenant's pool's IPs; absent: the whole pool.
    ips: tuple[str, ...] | None = None

    @field_validator("tenant")
    @classmethod
    def _tenant(cls, value: str) -> str:
        if not TENANT_NAME.match(value):
            raise ValueError("a tenant name: lowercase letters, digits, - and _ (at most 63)")
        return value

    @field_validator("ips")
    @classmethod
    def _ips(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is None:
            return None
        if not value:
            raise ValueError("list at least one IP, or leave ips out for the whole pool")
        for ip in value:
            ipaddress.ip_address(ip)  # ValueError names the bad one
        if len(set(value)) != len(value):
            raise ValueError("an IP is listed twice")
        return value


class MailwizzSyncSettings(Section):
    """mailwizz: {database, table_prefix, servers, margin, interval, time_zone, timeout}."""

    # mysql://user:password@host[:port]/database of MailWizz (e.g. with ${MW_DB_PASSWORD}).
    database: Annotated[str, Field(repr=False)]  # its password stays out of logs
    # MailWizz's table prefix (its install asks; "mw_" by default).
    table_prefix: Annotated[str, Field(pattern=r"^[A-Za-z0-9_]{0,32}$")] = "mw_"
    servers: tuple[MailwizzServer, ...] = ()
    # Share of each limit kept back, so MailWizz stops before Sluice refuses (its
    # cached "sends left" lags a written quota by up to 300 s).
    margin: Annotated[float, Field(ge=0, lt=0.5)] = 0.03
    # Seconds between sync rounds; a quota changes in MailWizz within this.
    interval: Annotated[float, Field(gt=0)] = 300
    # The time zone MailWizz's own connections use: its common/config/main.php sets
    # time_zone "+00:00" (UTC) on every connection, whatever the server's default.
    time_zone: Annotated[str, Field(pattern=OFFSET.pattern)] = "+00:00"
    # Seconds to wait for MySQL to connect or answer.
    timeout: Annotated[float, Field(gt=0, le=120)] = 10

    @field_validator("database")
    @classmethod
    def _database(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme != "mysql":
            raise ValueError("a mysql:// URL (mysql://user:password@host:3306/mailwizz)")
        if not parts.hostname or not parts.username or not parts.path.strip("/"):
            raise ValueError("name the user, the host and the database: mysql://user@host/db")
        parts.port  # noqa: B018 - raises ValueError on a bad port
        return value

    def problems(self) -> list[tuple[str, str]]:
        ids = [s.server_id for s in self.servers]
        twice = sorted({i for i in ids if ids.count(i) > 1})
        if twice:
            return [("servers", f"server_id listed twice: {', '.join(map(str, twice))}")]
        return []

    def dsn(self) -> MysqlDsn:
        return MysqlDsn.parse(self.database)

    def table(self, name: str) -> str:
        """A MailWizz table's quoted name, e.g. `mw_delivery_server`."""
        return f"`{self.table_prefix}{name}`"


@dataclass(frozen=True)
class MysqlDsn:
    host: str
    port: int
    user: str
    password: str = field(repr=False)
    database: str

    @classmethod
    def parse(cls, url: str) -> MysqlDsn:
        parts = urlsplit(url)
        return cls(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 3306,
            user=unquote(parts.username or ""),
            password=unquote(parts.password or ""),
            database=unquote(parts.path.strip("/")),
        )

    def where(self) -> str:
        """host:port/database, for messages: never the password."""
        return f"{self.host}:{self.port}/{self.database}"


def problems(sync: MailwizzSyncSettings, settings: Settings) -> list[tuple[str, str]]:
    """(key path, message) of each server whose tenant or IPs the settings do not have."""
    out = []
    tenants = {t.name: t.pool for t in settings.tenants}
    for i, server in enumerate(sync.servers):
        pool = tenants.get(server.tenant)
        if pool is None:
            known = ", ".join(tenants) or "none"
            out.append((f"servers[{i}].tenant", f"no tenant {server.tenant!r} (known: {known})"))
            continue
        in_pool = {p.ip for p in settings.pools.get(pool, ())}
        for j, ip in enumerate(server.ips or ()):
            if ip not in in_pool:
                out.append((f"servers[{i}].ips[{j}]", f"{ip} is not in pool {pool!r}"))
    return out
