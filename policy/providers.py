"""Recipient domain -> mailbox provider group, for per-provider warmup limits.

Consumer domains are known by name. Any other domain (a company on Google
Workspace or Microsoft 365) is known by where its MX points, the way KumoMTA
rolls domains up by MX suffix. A lookup that fails or is slow answers "other":
the provider only picks which sub-limit applies, and no recipient should wait
on DNS for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Mapping
from types import MappingProxyType

import dns.asyncresolver
import dns.exception
import dns.resolver

from conf.schema import WarmupSettings, split_hostport

GROUPS = ("google", "microsoft", "yahoo", "apple", "gmx_webde", "orange", "comcast", "other")
OTHER = "other"

DOMAINS: Mapping[str, str] = MappingProxyType(
    {
        "gmail.com": "google",
        "googlemail.com": "google",
        "msn.com": "microsoft",
        "windowslive.com": "microsoft",
        "ymail.com": "yahoo",
        "rocketmail.com": "yahoo",
        "aol.com": "yahoo",
        "aim.com": "yahoo",
        "verizon.net": "yahoo",
        # Yahoo Japan is a separate company with its own mail servers.
        "yahoo.co.jp": OTHER,
        "icloud.com": "apple",
        "me.com": "apple",
        "mac.com": "apple",
        "web.de": "gmx_webde",
        "orange.fr": "orange",
        "wanadoo.fr": "orange",
        "comcast.net": "comcast",
    }
)

# Brand names that exist under many country suffixes (hotmail.co.uk, yahoo.fr, gmx.at).
FAMILIES: Mapping[str, str] = MappingProxyType(
    {
        "hotmail": "microsoft",
        "live": "microsoft",
        "outlook": "microsoft",
        "yahoo": "yahoo",
        "aol": "yahoo",
        "gmx": "gmx_webde",
    }
)
# Second-level labels of country suffixes, so that yahoo.com.br is a family
# member and live.nation.com is not.
_SECOND_LEVEL = frozenset({"co", "com", "net", "org", "ne", "or"})

MX_SUFFIXES: tuple[tuple[str, str], ...] = (
    ("google.com", "google"),
    ("googlemail.com", "google"),
    ("protection.outlook.com", "microsoft"),
    ("mx.microsoft", "microsoft"),
    ("hotmail.com", "microsoft"),
    ("yahoodns.net", "yahoo"),
    ("mail.icloud.com", "apple"),
    ("gmx.net", "gmx_webde"),
    ("gmx.com", "gmx_webde"),
    ("web.de", "gmx_webde"),
    ("orange.fr", "orange"),
    ("comcast.net", "comcast"),
)


def _normalise(domain: str) -> str:
    return domain.strip().rstrip(".").lower()


def static_group(domain: str) -> str | None:
    """The group of a well-known consumer domain, or None when it is not one."""
    domain = _normalise(domain)
    if domain in DOMAINS:
        return DOMAINS[domain]
    brand, _, rest = domain.partition(".")
    if brand in FAMILIES and rest:
        labels = rest.split(".")
        if len(labels) == 1 or (len(labels) == 2 and labels[0] in _SECOND_LEVEL):
            return FAMILIES[brand]
    return None


def mx_group(hosts: list[tuple[int, str]]) -> str:
    """The group of the most preferred MX host that matches a known suffix."""
    for _, host in sorted(hosts):
        host = _normalise(host)
        for suffix, group in MX_SUFFIXES:
            if host == suffix or host.endswith("." + suffix):
                return group
    return OTHER


def from_settings(warmup: WarmupSettings) -> ProviderResolver:
    """The resolver ``warmup.resolver`` names ("host:port"), else the system's."""
    if warmup.resolver is None:
        return ProviderResolver(budget=warmup.dns_budget)
    host, port = split_hostport(warmup.resolver)
    return ProviderResolver([host], port=port, budget=warmup.dns_budget)


class ProviderResolver:
    """Provider groups with an MX fallback, cached and bounded in time.

    Lookups for one domain share one query; answers are kept for the record's
    TTL (at most `ttl_cap`), a missing domain or MX for `negative_ttl` and a
    failure for `failure_ttl`, so a DNS outage costs one `budget` per domain
    and not one per recipient.
    """

    def __init__(
        self,
        resolver_nameservers: list[str] | None = None,
        port: int = 53,
        budget: float = 0.5,
        ttl_cap: float = 3600,
        *,
        negative_ttl: float = 60,
        failure_ttl: float = 5,
        max_entries: int = 10000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._budget = budget
        self._ttl_cap = ttl_cap
        self._negative_ttl = negative_ttl
        self._failure_ttl = failure_ttl
        self._max_entries = max_entries
        self._clock = clock
        self._cache: dict[str, tuple[str, float]] = {}
        self._inflight: dict[str, asyncio.Task[str]] = {}
        self._resolver = self._make_resolver(resolver_nameservers, port, budget)

    @staticmethod
    def _make_resolver(
        nameservers: list[str] | None, port: int, budget: float
    ) -> dns.asyncresolver.Resolver:
        if nameservers is None:
            try:
                resolver = dns.asyncresolver.Resolver()
            except dns.exception.DNSException:
                # No resolv.conf: every lookup fails fast to "other".
                resolver = dns.asyncresolver.Resolver(configure=False)
        else:
            resolver = dns.asyncresolver.Resolver(configure=False)
            resolver.nameservers = list(nameservers)
        resolver.port = port
        resolver.timeout = budget
        resolver.lifetime = budget
        return resolver

    async def group(self, domain: str) -> str:
        """The provider group of a recipient domain; never raises on DNS trouble."""
        domain = _normalise(domain)
        known = static_group(domain)
        if known is not None:
            return known
        if not domain or domain.startswith("["):
            return OTHER
        now = self._clock()
        cached = self._cache.get(domain)
        if cached is not None and cached[1] > now:
            return cached[0]
        task = self._inflight.get(domain)
        if task is None:
            task = asyncio.create_task(self._lookup(domain))
            self._inflight[domain] = task
            task.add_done_callback(lambda _: self._inflight.pop(domain, None))
        # Shielded: one caller giving up must not cancel the answer others await.
        return await asyncio.shield(task)

    async def _lookup(self, domain: str) -> str:
        group, ttl = await self._query(domain)
        self._remember(domain, group, ttl)
        return group

    async def _query(self, domain: str) -> tuple[str, float]:
        try:
            async with asyncio.timeout(self._budget):
                answer = await self._resolver.resolve(domain, "MX", search=False)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return OTHER, self._negative_ttl
        except (dns.exception.DNSException, OSError, TimeoutError, ValueError):
            return OTHER, self._failure_ttl
        hosts = [(rr.preference, rr.exchange.to_text()) for rr in answer]
        ttl = answer.rrset.ttl if answer.rrset is not None else self._negative_ttl
        return mx_group(hosts), min(float(ttl), self._ttl_cap)

    def _remember(self, domain: str, group: str, ttl: float) -> None:
        now = self._clock()
        if len(self._cache) >= self._max_entries and domain not in self._cache:
            for key in [k for k, (_, expires) in self._cache.items() if expires <= now]:
                del self._cache[key]
            while len(self._cache) >= self._max_entries:
                # Oldest insertion first: dicts keep insertion order.
                del self._cache[next(iter(self._cache))]
        self._cache[domain] = (group, now + ttl)

    async def close(self) -> None:
        """Cancel lookups still in flight."""
        for task in list(self._inflight.values()):
            task.cancel()
        for task in list(self._inflight.values()):
            with contextlib.suppress(asyncio.CancelledError):
                await task
