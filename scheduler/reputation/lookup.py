"""Asking a DNS blocklist, with dnspython's async resolver pointed at the configured resolver.

Never the system's resolver: Spamhaus and URIBL refuse public ones, and a test
must reach only its own loopback server. No cache: each cycle asks afresh.
"""

from __future__ import annotations

import asyncio
import ipaddress
import time

import dns.asyncresolver
import dns.exception
import dns.resolver
from prometheus_client import Histogram

from conf.schema.reputation import DnsList, ReputationSettings
from policy.reputation import answers
from policy.reputation.answers import Reading

QUERY_SECONDS = Histogram(
    "sluice_reputation_query_seconds",
    "Time one DNS blocklist query took, by list (timeouts included)",
    ["list"],
    buckets=(0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10),
)


def resolver(cfg: ReputationSettings) -> dns.asyncresolver.Resolver:
    r = dns.asyncresolver.Resolver(configure=False)
    host, port = cfg.resolver_address
    r.nameservers = [host]
    r.port = port
    r.timeout = cfg.timeout
    r.lifetime = cfg.timeout
    r.cache = None
    return r


def query_name(target: str, zone: str) -> str:
    """The name to ask: an IP's octets (or nibbles) reversed under the zone, or the domain."""
    try:
        rev = ipaddress.ip_address(target).reverse_pointer
    except ValueError:
        return f"{target.rstrip('.')}.{zone}"
    # reverse_pointer ends in in-addr.arpa / ip6.arpa; a blocklist wants the zone instead.
    return rev.rsplit(".", 2)[0] + "." + zone


class Asker:
    """Queries bounded by a semaphore; counts what it asked."""

    def __init__(self, cfg: ReputationSettings) -> None:
        self.resolver = resolver(cfg)
        self.timeout = cfg.timeout
        self.limit = asyncio.Semaphore(cfg.concurrency)
        self.queries = 0

    async def ask(self, dnslist: DnsList, target: str) -> Reading:
        name = query_name(target, dnslist.zone)
        async with self.limit:
            self.queries += 1
            started = time.monotonic()
            try:
                return answers.read(dnslist, await self._a_records(name))
            except dns.exception.Timeout:
                return answers.failed(f"timeout after {self.timeout:g} s")
            except dns.exception.DNSException as exc:
                return answers.failed(f"{type(exc).__name__}: {exc}"[:200])
            finally:
                QUERY_SECONDS.labels(dnslist.zone).observe(time.monotonic() - started)

    async def _a_records(self, name: str) -> list[str]:
        try:
            answer = await self.resolver.resolve(
                name, "A", lifetime=self.timeout, raise_on_no_answer=False
            )
        except dns.resolver.NXDOMAIN:
            return []
        return [rr.to_text() for rr in answer.rrset or ()]
