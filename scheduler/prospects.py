"""Taking in a posted batch of prospects: parse, deduplicate, look up MX, store.

``ingest`` answers every item by its index: ``created``, ``updated``,
``unchanged`` (the same item was posted before: nothing written), ``invalid``
with the reason (the address, a field, or a domain with no MX record), or
``duplicate`` (its email or site domain came earlier in the batch). The valid
ones are written with their contacts in one transaction
(``ProspectStore.ingest_prospects``).

MX lookups go to the configured resolver (``warmup.resolver``, else the
system's), each domain once per batch, at most ``mx_concurrency`` at once,
each within ``mx_timeout`` and all within ``mx_budget``: a domain that did not
answer in time is kept as unverified (``mx: unknown``), not refused, since
the resolver's slowness says nothing about the prospect. Answers are kept in
this process for a while (an MX an hour, a missing one ten minutes, bounded in
size), since a scraper's batches share their mail domains (gmail.com...).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

import dns.asyncresolver
import dns.exception
import dns.resolver

from conf import Settings, split_hostport
from conf.schema.enrollment import EnrollmentTask
from policy.enrollment import prospects as pr
from policy.enrollment.prospects import MX_NONE, MX_OK, MX_UNKNOWN, ItemResult, Prospect
from policy.store.prospect_store import ProspectStore

TTL = {MX_OK: 3600.0, MX_NONE: 600.0}  # an unknown answer is not kept
MAX_CACHED = 100_000
# (nameservers, port, domain) -> (answer, until): shared by every request of this process.
_CACHE: OrderedDict[tuple[str, int, str], tuple[str, float]] = OrderedDict()


class MxChecker:
    """Whether domains have an MX record, through one resolver, bounded in time."""

    def __init__(self, nameservers: list[str] | None, port: int = 53, timeout: float = 2.0):
        if nameservers is None:
            try:
                r = dns.asyncresolver.Resolver()
            except dns.exception.DNSException:  # no resolv.conf: every lookup is unknown
                r = dns.asyncresolver.Resolver(configure=False)
        else:
            r = dns.asyncresolver.Resolver(configure=False)
            r.nameservers = list(nameservers)
        r.port = port
        r.timeout = r.lifetime = timeout
        self.resolver = r
        self.timeout = timeout
        self._where = (",".join(map(str, r.nameservers)), port)

    @classmethod
    def of(cls, s: Settings) -> MxChecker:
        if s.warmup.resolver is None:
            return cls(None, timeout=s.enrollment.mx_timeout)
        host, port = split_hostport(s.warmup.resolver)
        return cls([host], port, s.enrollment.mx_timeout)

    async def one(self, domain: str) -> str:
        """ok, none (no such domain, no MX, or a null MX) or unknown (no answer in time)."""
        key = (*self._where, domain)
        cached = _CACHE.get(key)
        if cached is not None and cached[1] > time.monotonic():
            return cached[0]
        answer = await self._ask(domain)
        if answer in TTL:
            _CACHE[key] = (answer, time.monotonic() + TTL[answer])
            _CACHE.move_to_end(key)
            while len(_CACHE) > MAX_CACHED:
                _CACHE.popitem(last=False)
        return answer

    async def _ask(self, domain: str) -> str:
        try:
            async with asyncio.timeout(self.timeout):
                answer = await self.resolver.resolve(domain, "MX", search=False)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return MX_NONE
        except (dns.exception.DNSException, OSError, TimeoutError, ValueError):
            return MX_UNKNOWN
        hosts = [rr.exchange.to_text() for rr in answer]
        return MX_NONE if hosts in ([], ["."]) else MX_OK  # RFC 7505: "0 ." takes no mail

    async def check(
        self, domains: Sequence[str], budget: float, concurrency: int
    ) -> dict[str, str]:
        """Each domain's answer; those not answered within ``budget`` seconds are unknown."""
        slots = asyncio.Semaphore(concurrency)

        async def bounded(domain: str) -> str:
            async with slots:
                return await self.one(domain)

        tasks = {d: asyncio.ensure_future(bounded(d)) for d in dict.fromkeys(domains)}
        if tasks:
            await asyncio.wait(tasks.values(), timeout=budget)
        out = {}
        for domain, task in tasks.items():
            if task.done() and not task.cancelled() and task.exception() is None:
                out[domain] = task.result()
            else:
                task.cancel()
                out[domain] = MX_UNKNOWN
        for task in tasks.values():
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        return out


NO_MX = "the domain has no MX record (or does not exist)"


async def ingest(
    store: ProspectStore,
    mx: MxChecker,
    cfg: EnrollmentTask,
    tenant: str,
    items: Sequence[Mapping[str, Any]],
    source: str,
    now: float,
) -> list[ItemResult]:
    """Every item's result, in order; the valid ones stored (see the module's docstring)."""
    parsed = [pr.parse(tenant, item, source) for item in items]
    repeats = pr.dedupe([p for p, _ in parsed])
    results: dict[int, ItemResult] = {}
    kept: list[tuple[int, Prospect]] = []
    for i, ((p, reason), repeat) in enumerate(zip(parsed, repeats, strict=True)):
        email = _email_of(items[i], p)
        if p is None:
            results[i] = ItemResult(i, email, "invalid", reason)
        elif repeat:
            results[i] = ItemResult(i, email, "duplicate", "its email or domain came earlier")
        else:
            kept.append((i, p))
    found = await mx.check([p.contact.domain for _, p in kept], cfg.mx_budget, cfg.mx_concurrency)
    valid = []
    for i, p in kept:
        if found[p.contact.domain] == MX_NONE:
            results[i] = ItemResult(i, p.email, "invalid", NO_MX)
        else:
            valid.append((i, p))
    if valid:
        rows = [pr.row_of(p, found[p.contact.domain], now) for _, p in valid]
        answers = await store.ingest_prospects(tenant, [p for _, p in valid], rows)
        for (i, p), answer in zip(valid, answers, strict=True):
            results[i] = ItemResult(i, p.email, answer, _flags(p, found[p.contact.domain]))
    return [results[i] for i in range(len(items))]


def _email_of(item: Mapping[str, Any], p: Prospect | None) -> str:
    if p is not None:
        return p.email
    raw = item.get("email") if isinstance(item, Mapping) else None
    return raw.strip()[:320] if isinstance(raw, str) else ""


def _flags(p: Prospect, mx: str) -> str:
    """What a stored prospect is flagged for ("" for none): the result's reason."""
    flags = [
        name
        for name, on in (
            ("role", p.role),
            ("disposable", p.disposable),
            ("unverified", mx != MX_OK),
        )
        if on
    ]
    return ", ".join(flags)
