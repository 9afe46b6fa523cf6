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

API v2 (the default; v1 is kept for accounts not moved yet), scope
``postmaster.traffic.readonly``: ``POST /v2/domains/{domain}/domainStats:query``
with ``metricDefinitions`` (``{"name", "baseMetric": {"standardMetric":
"SPAM_RATE"}}``) and a ``timeQuery`` of ``dateRanges`` answers ``{"domainStats":
[{"date": {"year", "month", "day"}, "metric": name, "value": {"doubleValue": r}}]}``
(a rate read as 0..1, as v1's ratio); ``GET /v2/domains/{domain}/complianceStatus``
answers ``{"complianceData": {"rowData": [{"requirement": "SPF", "status":
{"status": "COMPLIANT" | "NEEDS_WORK"}}], "oneClickUnsubscribeVerdict": {"status":
{...}, "reason": ...}, "honorUnsubscribeVerdict": {...}}}`` (v2 has no domain
reputation).

A day over Gmail's 0.3 % spam rate (its bulk-sender rule) is a firing
``gmail-spam:<domain>`` alert; a BAD domain reputation ``gmail-reputation``; a
requirement of the sender guidelines that needs work ``gmail-compliance``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from policy.alerts import Alert

SCOPE = "https://www.googleapis.com/auth/postmaster.readonly"
SCOPE_V2 = "https://www.googleapis.com/auth/postmaster.traffic.readonly"
SPAM_METRIC = "spam_rate"  # our name for SPAM_RATE in a v2 query
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


def stats_query(start: date, end: date) -> dict[str, Any]:
    """The v2 domainStats:query body: the daily spam rate from ``start`` to ``end``."""

    def ymd(d: date) -> dict[str, int]:
        return {"year": d.year, "month": d.month, "day": d.day}

    return {
        "metricDefinitions": [{"name": SPAM_METRIC, "baseMetric": {"standardMetric": "SPAM_RATE"}}],
        "timeQuery": {"dateRanges": {"dateRanges": [{"start": ymd(start), "end": ymd(end)}]}},
        "aggregationGranularity": "DAILY",
        "pageSize": 200,
    }


def parse_domain_stats(domain: str, body: Mapping[str, Any]) -> list[DomainDay]:
    """The v2 answer's spam rate per day (days without one are left out)."""
    stats = body.get("domainStats", [])
    if not isinstance(stats, list):
        raise PostmasterFormatError("domainStats is not a list")
    out = []
    for i, s in enumerate(stats):
        if not isinstance(s, dict) or s.get("metric") != SPAM_METRIC:
            continue
        d, value = s.get("date"), s.get("value", {})
        if not isinstance(d, dict) or not isinstance(value, dict):
            raise PostmasterFormatError(f"domainStats[{i}] has no date or value")
        rate = value.get("doubleValue", value.get("floatValue"))
        if rate is None:
            continue
        if not isinstance(rate, int | float):
            raise PostmasterFormatError(f"domainStats[{i}].value is not a number")
        try:
            day = date(int(d["year"]), int(d["month"]), int(d["day"])).strftime("%Y%m%d")
        except (KeyError, TypeError, ValueError):
            raise PostmasterFormatError(f"domainStats[{i}].date is not a date") from None
        out.append(DomainDay(domain, day, float(rate), None, ()))
    return out


def parse_compliance(body: Mapping[str, Any]) -> tuple[str, ...]:
    """The requirements the v2 compliance status says need work ("SPF", "ONE_CLICK_UNSUBSCRIBE
    (NO_UNSUB_GENERAL)"), for the registrable domain and the subdomain alike."""
    out: list[str] = []
    for part in ("complianceData", "subdomainComplianceData"):
        data = body.get(part)
        if not isinstance(data, dict):
            continue
        for row in data.get("rowData", []):
            if isinstance(row, dict) and _needs_work(row.get("status")):
                out.append(str(row.get("requirement", "UNKNOWN")))
        for key, name in (
            ("oneClickUnsubscribeVerdict", "ONE_CLICK_UNSUBSCRIBE"),
            ("honorUnsubscribeVerdict", "HONOR_UNSUBSCRIBE"),
        ):
            verdict = data.get(key)
            if isinstance(verdict, dict) and _needs_work(verdict.get("status")):
                reason = verdict.get("reason")
                out.append(f"{name} ({reason})" if reason else name)
    return tuple(dict.fromkeys(out))


def _needs_work(status: object) -> bool:
    return isinstance(status, dict) and status.get("status") == "NEEDS_WORK"


def compliance_alert(domain: str, needs_work: tuple[str, ...], now: float) -> Alert:
    return Alert(
        key=f"gmail-compliance:{domain}",
        firing=bool(needs_work),
        title=f"Gmail sender requirements for {domain}: "
        + ("needs work" if needs_work else "compliant"),
        text=", ".join(needs_work) or "every requirement met",
        at=now,
    )


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


def jwt_claims(
    client_email: str, token_url: str, now: int, lifetime: int = 3600, scope: str = SCOPE
) -> dict[str, Any]:
    """The service account's assertion claims (RFC 7523, Google's documented set)."""
    return {
        "iss": client_email,
        "scope": scope,
        "aud": token_url,
        "iat": now,
        "exp": now + lifetime,
    }
