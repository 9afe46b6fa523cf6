"""Gmail Postmaster Tools: reading the daily traffic stats and judging them. Pure.

The API (https://developers.google.com/gmail/postmaster/reference/rest, v1,
service ``https://gmailpostmastertools.googleapis.com``):
``GET /v1/domains/{domain}/trafficStats`` answers
``{"trafficStats": [TrafficStats, ...], "nextPageToken": "..."}``; a
TrafficStats has ``name`` (``domains/{domain}/trafficStats/{YYYYMMDD}``),
``userReportedSpamRatio`` (0..1, absent on days with too little mail),
``domainReputation`` and ``ipReputations`` (``[{"reputation": "BAD",
"ipCount": "1", "sampleIps": [...]}]``), reputations being ``HIGH``,
``MEDIUM``, ``LOW`` or ``BAD``. Scope ``postmaster.readonly``, granted to a
service account by a JWT bearer assertion (RFC 7523) signed RS256.

A day over Gmail's 0.3 % spam rate (its bulk-sender rule) is a firing
``gmail-spam:<domain>`` alert; a BAD domain reputation ``gmail-reputation``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from policy.alerts import Alert

SCOPE = "https://www.googleapis.com/auth/postmaster.readonly"
SPAM_LIMIT = 0.003  # Gmail's sender guidelines: stay under 0.3 %
REPUTATIONS = ("HIGH", "MEDIUM", "LOW", "BAD")


class PostmasterFormatError(ValueError):
    """An answer that is not the documented JSON."""


@dataclass(frozen=True)
class DomainDay:
    domain: str
    day: str  # YYYYMMDD
    spam_ratio: float | None
    reputation: str | None
    bad_ips: tuple[str, ...]


def parse_traffic_stats(domain: str, body: Mapping[str, Any]) -> list[DomainDay]:
    stats = body.get("trafficStats", [])
    if not isinstance(stats, list):
        raise PostmasterFormatError("trafficStats is not a list")
    out = []
    for i, s in enumerate(stats):
        if not isinstance(s, dict) or not isinstance(s.get("name"), str):
            raise PostmasterFormatError(f"trafficStats[{i}].name is missing")
        ratio = s.get("userReportedSpamRatio")
        if ratio is not None and not isinstance(ratio, int | float):
            raise PostmasterFormatError(f"trafficStats[{i}].userReportedSpamRatio is not a number")
        rep = s.get("domainReputation")
        bad = [
            ip
            for r in s.get("ipReputations", [])
            if isinstance(r, dict) and r.get("reputation") == "BAD"
            for ip in r.get("sampleIps", [])
        ]
        day = s["name"].rsplit("/", 1)[-1]
        out.append(DomainDay(domain, day, None if ratio is None else float(ratio), rep, tuple(bad)))
    return out


def latest(days: Iterable[DomainDay]) -> DomainDay | None:
    """The most recent day that has a spam ratio."""
    known = [d for d in days if d.spam_ratio is not None]
    return max(known, key=lambda d: d.day) if known else None


def alerts(
    domain: str, day: DomainDay | None, now: float, limit: float = SPAM_LIMIT
) -> list[Alert]:
    """Spam-rate and reputation alerts for one domain, firing or resolved."""
    if day is None:
        return []
    over = day.spam_ratio is not None and day.spam_ratio > limit
    bad = day.reputation == "BAD"
    rate = f"{(day.spam_ratio or 0) * 100:.2f}%"
    return [
        Alert(
            key=f"gmail-spam:{domain}",
            firing=over,
            title=f"Gmail spam rate {rate} for {domain} on {day.day}",
            text=f"over {limit * 100:.1f}%: hold the tenant" if over else "back under the limit",
            at=now,
        ),
        Alert(
            key=f"gmail-reputation:{domain}",
            firing=bad,
            title=f"Gmail domain reputation {day.reputation or 'unknown'} for {domain}",
            text=f"bad IPs: {', '.join(day.bad_ips) or 'none sampled'}",
            at=now,
        ),
    ]


def jwt_claims(client_email: str, token_url: str, now: int, lifetime: int = 3600) -> dict[str, Any]:
    """The service account's assertion claims (RFC 7523, Google's documented set)."""
    return {
        "iss": client_email,
        "scope": SCOPE,
        "aud": token_url,
        "iat": now,
        "exp": now + lifetime,
    }
