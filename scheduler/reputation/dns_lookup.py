"""The DNS authentication checks' Lookup (policy/reputation/lookups.py) over dnspython.

Every query goes to the one configured resolver (``Settings.dns_resolver``),
never the system's: the answers must be the ones the operator's own
resolver sees, and a test must reach only its loopback server. One run
shares one cache (SPF asks the same include for every IP of a pool) and
bounds the queries in flight.
"""

from __future__ import annotations

import asyncio

import dns.asyncresolver
import dns.exception
import dns.rdatatype
import dns.resolver

from conf import Settings
from conf.schema.dns_check import DnsCheckSettings, split_resolver
from policy.reputation.lookups import DnsFailure


def settings_of(settings: Settings) -> DnsCheckSettings:
    """The ``dns_check:`` section, or its defaults when it is absent (on-demand runs)."""
    return settings.dns_check if settings.dns_check is not None else DnsCheckSettings()


class CachedLookup:
    """A Lookup: (name, type) -> records as text, cached for the run, failures included."""

    def __init__(self, settings: Settings) -> None:
        cfg = settings_of(settings)
        host, port = split_resolver(settings.dns_resolver)
        self.resolver = dns.asyncresolver.Resolver(configure=False)
        self.resolver.nameservers = [host]
        self.resolver.port = port
        self.resolver.timeout = cfg.timeout
        self.resolver.lifetime = cfg.timeout
        self.resolver.cache = None
        self.timeout = cfg.timeout
        self.limit = asyncio.Semaphore(cfg.concurrency)
        self.queries = 0
        self._answers: dict[tuple[str, str], asyncio.Task[list[str]]] = {}

    async def __call__(self, name: str, rdtype: str) -> list[str]:
        key = (name.rstrip(".").lower(), rdtype)
        if key not in self._answers:
            self._answers[key] = asyncio.ensure_future(self._ask(*key))
        return list(await asyncio.shield(self._answers[key]))

    async def _ask(self, name: str, rdtype: str) -> list[str]:
        async with self.limit:
            self.queries += 1
            try:
                answer = await self.resolver.resolve(
                    name, rdtype, lifetime=self.timeout, raise_on_no_answer=False
                )
            except dns.resolver.NXDOMAIN:
                return []
            except dns.exception.Timeout:
                raise DnsFailure(f"no answer within {self.timeout:g} s") from None
            except dns.exception.DNSException as exc:
                raise DnsFailure(f"{type(exc).__name__}: {exc}"[:200]) from None
        return [_text(rr) for rr in answer.rrset or ()]


def _text(rr: object) -> str:
    rdtype = getattr(rr, "rdtype", None)
    if rdtype == dns.rdatatype.TXT:
        return b"".join(rr.strings).decode("utf-8", "replace")  # type: ignore[attr-defined]
    if rdtype == dns.rdatatype.MX:
        exchange = rr.exchange.to_text(omit_final_dot=True)  # type: ignore[attr-defined]
        return f"{rr.preference} {exchange}"  # type: ignore[attr-defined]
    if rdtype == dns.rdatatype.PTR:
        return rr.target.to_text(omit_final_dot=True)  # type: ignore[attr-defined]
    return rr.to_text()  # type: ignore[attr-defined]
