"""Asking Gmail Postmaster Tools daily (the ``postmaster`` task) and alerting on it.

The service account's token: a JWT bearer assertion (RFC 7523) signed RS256
with its private key, posted to ``token_url``; then, per configured domain with
that bearer token, API v2's ``domainStats:query`` and ``complianceStatus`` (v1's
``trafficStats`` with ``api_version: 1``). The JWT is three base64url parts
signed with ``cryptography`` (already a dependency, for DKIM): PyJWT and
google-auth are not installed, and the one signature needed does not justify
a new dependency. A request or answer that fails is logged and changes
nothing, so an outage cannot announce a false all-clear.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import aiohttp
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from conf import Settings
from conf.schema.providers import PostmasterSettings
from policy.alerts import Alert
from policy.quota import measures
from policy.quota.measures import Measure
from policy.reputation import postmaster
from policy.reputation.provider_feedback import ProviderFinding
from scheduler.reputation import metrics
from scheduler.supervisor import Supervisor

log = logging.getLogger("sluice.postmaster")

TASK = "postmaster"
GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


class FeedbackStore(Protocol):
    async def save_provider_feedback(self, findings: Sequence[ProviderFinding]) -> None: ...
    async def save_measure(self, measure: Measure) -> None: ...


class PostmasterError(Exception):
    """A token or stats request that failed, or credentials that cannot sign."""


@dataclass
class PostmasterReport:
    days: dict[str, postmaster.DomainDay | None] = field(default_factory=dict)
    over: list[str] = field(default_factory=list)  # domains over the spam limit
    held: list[str] = field(default_factory=list)  # their tenants' IPs, warmup held
    compliance: dict[str, tuple[str, ...]] = field(default_factory=dict)  # v2: needs work
    error: str | None = None


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def sign_jwt(claims: dict[str, Any], private_key_pem: str, key_id: str | None = None) -> str:
    """An RS256 JWT of `claims`."""
    key = serialization.load_pem_private_key(private_key_pem.encode(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise PostmasterError("the service account's private_key is not an RSA key")
    header: dict[str, str] = {"alg": "RS256", "typ": "JWT"}
    if key_id:
        header["kid"] = key_id
    compact = json.dumps(header, separators=(",", ":")).encode()
    signing = f"{_b64(compact)}.{_b64(json.dumps(claims, separators=(',', ':')).encode())}"
    signature = key.sign(signing.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing}.{_b64(signature)}"


def _credentials(cfg: PostmasterSettings) -> dict[str, str]:
    try:
        with open(cfg.credentials_file, encoding="utf-8") as f:
            creds = json.load(f)
        return {"client_email": creds["client_email"], "private_key": creds["private_key"]} | (
            {"private_key_id": creds["private_key_id"]} if creds.get("private_key_id") else {}
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise PostmasterError(f"{cfg.credentials_file}: {exc.__class__.__name__}: {exc}") from None


async def _json(resp: aiohttp.ClientResponse, what: str) -> dict[str, Any]:
    if resp.status != 200:
        raise PostmasterError(f"{what}: HTTP {resp.status}")
    try:
        body = await resp.json(content_type=None)
    except ValueError:
        raise PostmasterError(f"{what}: the answer is not JSON") from None
    if not isinstance(body, dict):
        raise PostmasterError(f"{what}: the answer is not a JSON object")
    return body


async def token(http: aiohttp.ClientSession, cfg: PostmasterSettings, now: int) -> str:
    creds = _credentials(cfg)
    scope = postmaster.SCOPE_V2 if cfg.api_version == 2 else postmaster.SCOPE
    claims = postmaster.jwt_claims(creds["client_email"], cfg.token_url, now, scope=scope)
    assertion = sign_jwt(claims, creds["private_key"], creds.get("private_key_id"))
    async with http.post(cfg.token_url, data={"grant_type": GRANT, "assertion": assertion}) as r:
        body = await _json(r, "token")
    if not isinstance(body.get("access_token"), str):
        raise PostmasterError("token: no access_token in the answer")
    return str(body["access_token"])


async def traffic_stats(
    http: aiohttp.ClientSession, cfg: PostmasterSettings, bearer: str, domain: str
) -> list[postmaster.DomainDay]:
    url = f"{cfg.api_url.rstrip('/')}/v1/domains/{domain}/trafficStats"
    headers = {"Authorization": f"Bearer {bearer}"}
    async with http.get(url, headers=headers, params={"pageSize": "7"}) as r:
        body = await _json(r, f"trafficStats {domain}")
    return postmaster.parse_traffic_stats(domain, body)


async def domain_stats(
    http: aiohttp.ClientSession, cfg: PostmasterSettings, bearer: str, domain: str, now: float
) -> list[postmaster.DomainDay]:
    """v2: the last 7 days' spam rate."""
    url = f"{cfg.api_url.rstrip('/')}/v2/domains/{domain}/domainStats:query"
    end = datetime.fromtimestamp(now, UTC).date()
    body = postmaster.stats_query(end - timedelta(days=7), end)
    headers = {"Authorization": f"Bearer {bearer}"}
    async with http.post(url, headers=headers, json=body) as r:
        answer = await _json(r, f"domainStats {domain}")
    return postmaster.parse_domain_stats(domain, answer)


async def compliance(
    http: aiohttp.ClientSession, cfg: PostmasterSettings, bearer: str, domain: str
) -> tuple[str, ...]:
    """v2: the sender requirements that need work."""
    url = f"{cfg.api_url.rstrip('/')}/v2/domains/{domain}/complianceStatus"
    headers = {"Authorization": f"Bearer {bearer}"}
    async with http.get(url, headers=headers) as r:
        return postmaster.parse_compliance(await _json(r, f"complianceStatus {domain}"))


async def _ask(
    http: aiohttp.ClientSession, cfg: PostmasterSettings, now: float, report: PostmasterReport
) -> None:
    bearer = await token(http, cfg, int(now))
    for domain in cfg.domains:
        if cfg.api_version == 2:
            days = await domain_stats(http, cfg, bearer, domain, now)
            report.compliance[domain] = await compliance(http, cfg, bearer, domain)
        else:
            days = await traffic_stats(http, cfg, bearer, domain)
        report.days[domain] = postmaster.latest(days)


async def run_once(
    settings: Settings,
    alert: Callable[[Alert], Awaitable[None]],
    clock: Callable[[], float] = time.time,
    store: FeedbackStore | None = None,
) -> PostmasterReport:
    """One round: a token, each domain's latest day, its alerts."""
    cfg = settings.providers.postmaster
    if cfg is None:
        return PostmasterReport(error="providers.postmaster is not configured")
    now = clock()
    report = PostmasterReport()
    try:
        timeout = aiohttp.ClientTimeout(total=cfg.timeout)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            await _ask(http, cfg, now, report)
    except (
        PostmasterError,
        postmaster.PostmasterFormatError,
        aiohttp.ClientError,
        TimeoutError,
        OSError,
    ) as exc:
        log.error("postmaster: failed, nothing changed: %s", exc)
        return PostmasterReport(error=f"{exc.__class__.__name__}: {exc}"[:300])
    if store is not None:
        found = findings(report.days, cfg.spam_limit, now, report.compliance)
        await store.save_provider_feedback(found)
    for domain, day in report.days.items():
        if day is not None and day.spam_ratio is not None and day.spam_ratio > cfg.spam_limit:
            report.over.append(domain)
            report.held += held_ips(settings, domain)
    if store is not None:
        reason = "Gmail spam rate over providers.postmaster.spam_limit"
        until = now + cfg.interval + 3600.0  # until the next round confirms or lifts it
        for ip in sorted(set(report.held)):
            await store.save_measure(
                Measure(ip, measures.ALL, measures.HOLD, 0, reason, now, until)
            )
    for domain, day in report.days.items():
        if day is not None and day.spam_ratio is not None:
            metrics.GMAIL_SPAM_RATIO.labels(domain).set(day.spam_ratio)
        for a in postmaster.alerts(domain, day, now, cfg.spam_limit):
            await alert(a)
    for domain, needs_work in report.compliance.items():
        await alert(postmaster.compliance_alert(domain, needs_work, now))
    return report


def held_ips(settings: Settings, domain: str) -> list[str]:
    """The IPs of the pools of every tenant sending as `domain`: the tenant's warmup is held."""
    pools = {t.pool for t in settings.tenants if domain in t.sender_domains}
    return [ip.ip for pool in sorted(pools) for ip in settings.pools.get(pool, ())]


def findings(
    days: dict[str, postmaster.DomainDay | None],
    limit: float,
    now: float,
    compliance: dict[str, tuple[str, ...]] | None = None,
) -> list[ProviderFinding]:
    out = []
    for domain, day in days.items():
        if day is None or day.spam_ratio is None:
            continue
        status = "OVER" if day.spam_ratio > limit else "OK"
        detail = f"spam rate {day.spam_ratio * 100:.2f}%"
        if compliance is not None and domain in compliance:
            detail += f", needs work: {', '.join(compliance[domain])}" if compliance[domain] else ""
        else:
            detail += f", reputation {day.reputation or 'unknown'}"
        out.append(ProviderFinding("postmaster", domain, day.day, status, detail, now))
    return out


def schedule(
    tasks: Supervisor,
    settings: Callable[[], Settings],
    alert: Callable[[Alert], Awaitable[None]],
    store: FeedbackStore | None = None,
) -> None:
    """Ask every ``providers.postmaster.interval`` while it is configured."""

    def interval() -> float:
        cfg = settings().providers.postmaster
        return cfg.interval if cfg is not None else 3600.0

    async def once() -> None:
        current = settings()
        if current.providers.postmaster is not None:
            report = await run_once(current, alert, store=store)
            if report.error is None:
                log.info(
                    "postmaster: %d domains, over the spam limit: %s", len(report.days), report.over
                )

    tasks.every(TASK, interval, once)
