"""The ``dns_check:`` section: the daily check of SPF, DKIM, DMARC, PTR, MX and tracking DNS.

Present: the ``dns-check`` task runs every ``interval`` seconds
(scheduler/reputation/dnsauth.py); absent: it does not, but ``sluice
dns-check`` and ``POST /api/dns-check`` still run it on demand with these
defaults. Every query goes to one resolver: ``resolver`` here, else
``reputation.resolver``, else 127.0.0.1:53; never the system's, so the
answers are the ones the operator's own resolver sees.
"""

from __future__ import annotations

import ipaddress

from pydantic import Field

from conf.schema.base import Section
from conf.schema.rules import HostName

LOCAL_RESOLVER = "127.0.0.1:53"


def split_resolver(value: str) -> tuple[str, int]:
    """``host:port`` (IPv6 in brackets) as (host, port); ValueError when it is not one."""
    host, sep, port = value.rpartition(":")
    host = host.strip("[]")
    ipaddress.ip_address(host)
    if not sep or not 0 < int(port) < 65536:
        raise ValueError(value)
    return host, int(port)


class DnsCheckSettings(Section):
    # host:port of the recursive resolver; absent: reputation.resolver, else 127.0.0.1:53.
    resolver: str | None = None
    # Seconds between checks: DNS records change rarely, daily is enough.
    interval: float = Field(default=86_400.0, gt=0)
    # Seconds one query may take; then that check is reported as not answered.
    timeout: float = Field(default=5.0, gt=0)
    # Queries in flight at once.
    concurrency: int = Field(default=10, gt=0)
    # The host name (or IP address) the bounce domains' MX must reach: where the
    # inbound listener is seen from the internet. Absent: smtp.inbound_listen's
    # address when it names one, else smtp.hostname.
    inbound_host: HostName | None = None

    def problems(self) -> list[tuple[str, str]]:
        if self.resolver is None:
            return []
        try:
            split_resolver(self.resolver)
        except ValueError:
            return [("resolver", "use host:port with an IP address, e.g. 127.0.0.1:53")]
        return []
