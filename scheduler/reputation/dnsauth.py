"""The DNS authentication check: the ``dns-check`` task, ``sluice dns-check``, the API's run.

For each tenant: SPF of each sender and bounce domain for each enabled IP of
its pool, each DKIM selector's published key against the key file, DMARC of
each sender domain with the alignment of what Sluice signs and sends as,
PTR of each IP (forward-confirmed, the configured host name), MX of the
bounce domain reaching the inbound listener, the tracking domain resolving.
The questions go through one CachedLookup (scheduler/reputation/dns_lookup.py);
what is wrong, and its wording, is policy/reputation/. Each domain (or IP)
raises the ``dns_check`` alert while it has a problem, resolved when it has none.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
import urllib.parse
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

from conf import Settings
from conf.schema.tenant import TenantSettings
from conf.schema.warmup import PoolIp
from policy import alert_kinds, dkim_dns
from policy.alerts import Alert
from policy.reputation import dmarc, dnsauth, spf
from policy.reputation.dnsauth import DnsCheckReport, DomainReport
from policy.reputation.lookups import DnsFailure, Lookup, address_type, host, reverse_name
from scheduler.reputation import metrics
from scheduler.reputation.dns_lookup import CachedLookup, settings_of
from scheduler.supervisor import Supervisor

log = logging.getLogger("sluice.dns_check")

TASK = "dns-check"
# What one check found: (target, kind, problems, notes).
Found = tuple[str, str, list[str], list[str]]


async def run_check(
    settings: Settings, tenant: str | None = None, clock: Callable[[], float] = time.time
) -> DnsCheckReport:
    """Every tenant's checks (or ``tenant``'s only), one report per domain or IP."""
    lookup = CachedLookup(settings)
    at, started = clock(), time.monotonic()
    chosen = [t for t in settings.tenants if tenant is None or t.name == tenant]
    found = await asyncio.gather(*(_tenant(settings, t, lookup) for t in chosen))
    reports = [r for per_tenant in found for r in per_tenant]
    return DnsCheckReport(at, time.monotonic() - started, lookup.queries, reports)


async def _tenant(settings: Settings, tenant: TenantSettings, lookup: Lookup) -> list[DomainReport]:
    ips = [p for p in settings.pools.get(tenant.pool, ()) if p.enabled]
    senders = list(dict.fromkeys(host(d) for d in tenant.sender_domains if d != "*"))
    bounce = host(tenant.bounce_domain) if tenant.bounce_domain else None
    envelopes = dict.fromkeys([*senders, bounce] if bounce else senders)
    checks: list[Coroutine[Any, Any, list[Found]]] = [
        _spf(d, [p.ip for p in ips], lookup) for d in envelopes
    ]
    checks += [_dkim(tenant, senders, lookup)]
    checks += [_dmarc(d, _signing_domain(tenant, d), bounce or d, lookup) for d in senders]
    checks += [_ptr(p, lookup) for p in ips]
    if bounce is not None:
        checks.append(_mx(settings, bounce, lookup))
    if tenant.tracking is not None:
        checks.append(_tracking(tenant.tracking.base_url, lookup))
    book: dict[str, DomainReport] = {}
    for results in await asyncio.gather(*checks):  # in the order asked, whatever ends first
        for target, kind, problems, notes in results:
            report = book.setdefault(target, DomainReport(tenant.name, target, kind))
            report.problems += problems
            report.notes += notes
    return list(book.values())


async def _spf(domain: str, ips: Sequence[str], lookup: Lookup) -> list[Found]:
    walk = await spf.check_host(None, domain, lookup)
    results = {}
    if walk.result not in ("none", "temperror"):
        results = {ip: await spf.check_host(ip, domain, lookup) for ip in ips}
    problems, notes = dnsauth.spf_findings(domain, results, walk)
    return [(domain, "domain", problems, notes)]


def _signing_domain(tenant: TenantSettings, domain: str) -> str | None:
    """The d= Sluice signs ``domain``'s mail with: the most specific key (gateway/dkim.py)."""
    named = [host(k.domain) for k in tenant.dkim if k.domain != "*"]
    parents = [d for d in named if domain == d or domain.endswith("." + d)]
    if parents:
        return max(parents, key=len)
    return domain if any(k.domain == "*" for k in tenant.dkim) else None


async def _dkim(tenant: TenantSettings, senders: list[str], lookup: Lookup) -> list[Found]:
    out: list[Found] = []
    for cfg in tenant.dkim:
        domains = senders if cfg.domain == "*" else [host(cfg.domain)]
        try:
            data = await asyncio.to_thread(Path(cfg.key_file).read_bytes)
            key = dkim_dns.parse_private_key(data)
        except (OSError, ValueError) as exc:
            why = f"DKIM selector {cfg.selector}: key file {cfg.key_file} cannot be read ({exc})"
            out += [(d, "domain", [why], []) for d in domains]
            continue
        for domain in domains:
            name = dkim_dns.record_name(cfg.selector, domain)
            try:
                records = await lookup(name, "TXT")
            except DnsFailure as exc:
                problem = f"DKIM of {domain}, selector {cfg.selector}: {name} not answered: {exc}"
                out.append((domain, "domain", [problem], []))
                continue
            problems = dnsauth.dkim_problems(domain, cfg.selector, records, key)
            note = [] if problems else [f"DKIM of {domain}, selector {cfg.selector}: key matches"]
            out.append((domain, "domain", problems, note))
    return out


async def _dmarc(domain: str, signer: str | None, envelope: str, lookup: Lookup) -> list[Found]:
    try:
        finding = await dmarc.discover(domain, lookup)
    except DnsFailure as exc:
        return [(domain, "domain", [f"DMARC of {domain} could not be checked: {exc}"], [])]
    problems, notes = dnsauth.dmarc_findings(finding, signer, envelope)
    return [(domain, "domain", problems, notes)]


async def _ptr(pool_ip: PoolIp, lookup: Lookup) -> list[Found]:
    ip = pool_ip.ip
    try:
        names = [host(n) for n in await lookup(reverse_name(ip), "PTR")]
        forward = {n: await lookup(n, address_type(ip)) for n in names}
    except DnsFailure as exc:
        return [(ip, "ip", [f"PTR of {ip} could not be checked: {exc}"], [])]
    problems = dnsauth.ptr_problems(ip, pool_ip.hostname, names, forward)
    notes = [] if problems else [f"PTR of {ip}: {', '.join(names)}, forward-confirmed"]
    return [(ip, "ip", problems, notes)]


async def _addresses(name: str, lookup: Lookup) -> list[str]:
    try:
        ipaddress.ip_address(name)
        return [name]
    except ValueError:
        return [*await lookup(name, "A"), *await lookup(name, "AAAA")]


def inbound_host(settings: Settings) -> str | None:
    """Where the bounce domains' MX must lead (conf/schema/dns_check.py); None: no listener."""
    listen = settings.smtp.inbound_listen
    if listen is None:
        return None
    if settings.dns_check is not None and settings.dns_check.inbound_host is not None:
        return settings.dns_check.inbound_host
    address = listen.rpartition(":")[0].strip("[]")
    try:
        if not ipaddress.ip_address(address).is_unspecified:
            return address
    except ValueError:
        pass
    return settings.smtp.hostname


async def _mx(settings: Settings, domain: str, lookup: Lookup) -> list[Found]:
    inbound = inbound_host(settings)
    if inbound is None:
        why = f"MX of {domain}: no inbound listener (smtp.inbound_listen) takes its bounces"
        return [(domain, "domain", [why], [])]
    try:
        records = sorted(await lookup(domain, "MX"), key=lambda r: int(r.split()[0]))
        hosts = [host(r.split()[-1]) for r in records]
        addresses = {h: await _addresses(h, lookup) for h in hosts or [domain]}
        expected = await _addresses(inbound, lookup)
    except DnsFailure as exc:
        return [(domain, "domain", [f"MX of {domain} could not be checked: {exc}"], [])]
    problems = dnsauth.mx_problems(domain, hosts, addresses, inbound, expected)
    notes = [] if problems else [f"MX of {domain} reaches {inbound}"]
    return [(domain, "domain", problems, notes)]


async def _tracking(base_url: str, lookup: Lookup) -> list[Found]:
    name = host(urllib.parse.urlsplit(base_url).hostname or "")
    try:
        addresses = await _addresses(name, lookup)
    except DnsFailure as exc:
        return [(name, "domain", [f"Tracking domain {name} could not be checked: {exc}"], [])]
    notes = [f"Tracking domain {name} resolves to {', '.join(addresses)}"] if addresses else []
    return [(name, "domain", dnsauth.tracking_problems(name, addresses), notes)]


class DnsCheck:
    """Runs the check, keeps its last report in memory and alerts on each target's problems."""

    def __init__(
        self,
        settings: Callable[[], Settings],
        alert: Callable[[Alert], Awaitable[None]],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.alert = alert
        self.clock = clock
        self.last: DnsCheckReport | None = None
        self._running = asyncio.Lock()

    async def run(self, tenant: str | None = None) -> DnsCheckReport:
        async with self._running:  # the daily task and an operator's run never overlap
            report = await run_check(self.settings(), tenant, self.clock)
            kept = [] if self.last is None or tenant is None else self.last.reports
            merged = [r for r in kept if r.tenant != tenant] + report.reports
            self.last = DnsCheckReport(report.at, report.seconds, report.queries, merged)
            for r in report.reports:
                metrics.DNS_PROBLEMS.labels(r.tenant, r.target).set(len(r.problems))
                await self.alert(alert_kinds.dns_check(r.target, r.problems, report.at))
            return report


def schedule(tasks: Supervisor, settings: Callable[[], Settings], check: DnsCheck) -> None:
    """Check every ``dns_check.interval`` while the section is configured (read each round)."""

    def interval() -> float:
        return settings_of(settings()).interval

    async def once() -> None:
        if settings().dns_check is None:
            return
        report = await check.run()
        log.info(
            "dns-check: %d targets, %d problems, %d queries in %.1f s",
            len(report.reports),
            report.problems,
            report.queries,
            report.seconds,
        )

    tasks.every(TASK, interval, once)
