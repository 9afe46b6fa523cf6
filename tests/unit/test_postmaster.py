"""Gmail Postmaster Tools: a local OAuth token endpoint and a local API with the documented JSON.

The token endpoint checks the RS256 assertion with the service account's
public key, as Google's does; the API answers only its bearer token.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

import conf
from policy.alerts import Alert
from policy.reputation import postmaster
from scheduler.reputation.postmaster import GRANT, run_once

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EMAIL = "sluice@project.iam.gserviceaccount.com"
BEARER = "ya29.test-token"


def stats(ratio: float) -> dict:
    return {
        "trafficStats": [
            {
                "name": "domains/acme.example/trafficStats/20261202",
                "userReportedSpamRatio": 0.0001,
                "domainReputation": "HIGH",
            },
            {
                "name": "domains/acme.example/trafficStats/20261203",
                "userReportedSpamRatio": ratio,
                "domainReputation": "LOW",
                "ipReputations": [
                    {"reputation": "BAD", "ipCount": "1", "sampleIps": ["192.0.2.10"]}
                ],
            },
        ]
    }


def _unb64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


class Google:
    def __init__(self) -> None:
        self.ratio = 0.005
        self.url = ""
        self.claims: list[dict] = []
        self.queries: list[dict] = []
        self.failing: set[str] = {"DMARC_POLICY", "ONE_CLICK"}

    async def token(self, request: web.Request) -> web.Response:
        form = await request.post()
        if form.get("grant_type") != GRANT:
            return web.json_response({"error": "unsupported_grant_type"}, status=400)
        head, body, sig = str(form["assertion"]).split(".")
        try:
            KEY.public_key().verify(
                _unb64(sig), f"{head}.{body}".encode(), padding.PKCS1v15(), hashes.SHA256()
            )
        except Exception:
            return web.json_response({"error": "invalid_grant"}, status=400)
        assert json.loads(_unb64(head))["alg"] == "RS256"
        self.claims.append(json.loads(_unb64(body)))
        return web.json_response(
            {"access_token": BEARER, "expires_in": 3599, "token_type": "Bearer"}
        )

    async def traffic(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {BEARER}":
            return web.json_response({"error": {"code": 401}}, status=401)
        assert request.match_info["domain"] == "acme.example"
        return web.json_response(stats(self.ratio))

    async def domain_stats(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {BEARER}":
            return web.json_response({"error": {"code": 401}}, status=401)
        body = await request.json()
        self.queries.append(body)
        [metric] = body["metricDefinitions"]
        assert metric["baseMetric"] == {"standardMetric": "SPAM_RATE"}
        [span] = body["timeQuery"]["dateRanges"]["dateRanges"]
        end = span["end"]
        days = [
            {"date": {**end, "day": end["day"] - 1}, "metric": metric["name"],
             "value": {"doubleValue": 0.0001}},
            {"date": end, "metric": metric["name"], "value": {"doubleValue": self.ratio}},
            {"date": end, "metric": "other", "value": {"doubleValue": 0.9}},
        ]  # fmt: skip
        return web.json_response({"domainStats": days})

    async def compliance(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {BEARER}":
            return web.json_response({"error": {"code": 401}}, status=401)
        rows = [
            {"requirement": r, "status": {"status": "NEEDS_WORK" if r in self.failing else
                                                     "COMPLIANT"}}
            for r in ("SPF", "DKIM", "DMARC_POLICY", "USER_REPORTED_SPAM_RATE")
        ]  # fmt: skip
        one_click = {"status": {"status": "COMPLIANT"}}
        if "ONE_CLICK" in self.failing:
            one_click = {"status": {"status": "NEEDS_WORK"}, "reason": "NO_UNSUB_GENERAL"}
        data = {"domainId": request.match_info["domain"], "rowData": rows,
                "oneClickUnsubscribeVerdict": one_click,
                "honorUnsubscribeVerdict": {"status": {"status": "COMPLIANT"}}}  # fmt: skip
        name = f"domains/{request.match_info['domain']}/complianceStatus"
        return web.json_response({"name": name, "complianceData": data})


@pytest.fixture
async def google() -> AsyncIterator[Google]:
    g = Google()
    app = web.Application()
    app.router.add_post("/token", g.token)
    app.router.add_get("/v1/domains/{domain}/trafficStats", g.traffic)
    app.router.add_post("/v2/domains/{domain}/domainStats:query", g.domain_stats)
    app.router.add_get("/v2/domains/{domain}/complianceStatus", g.compliance)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    g.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
    yield g
    await runner.cleanup()


def settings(url: str, tmp_path: Path, version: int = 1):
    pem = KEY.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    creds = tmp_path / "sa.json"
    creds.write_text(
        json.dumps({"type": "service_account", "client_email": EMAIL, "private_key": pem})
    )
    return conf.parse(
        f"""
tenants:
  - {{name: acme, pool: acme, trusted_networks: [127.0.0.1/32], sender_domains: [acme.example]}}
pools:
  acme:
    - {{ip: 192.0.2.10, vmta: v0, hostname: h0.example}}
providers:
  postmaster:
    credentials_file: {creds}
    domains: [acme.example]
    api_url: {url}
    token_url: {url}/token
    api_version: {version}
""",
        environ={},
    )


async def test_spam_rate_over_the_limit_alerts_holds_then_resolves(
    google: Google, tmp_path: Path, store
) -> None:
    sent: list[Alert] = []

    async def alert(a: Alert) -> None:
        sent.append(a)

    s = settings(google.url, tmp_path)
    report = await run_once(s, alert, clock=lambda: 1_000_000.0, store=store)
    assert report.error is None and report.over == ["acme.example"]
    # The tenant sending as acme.example has its pool's warmup held.
    assert report.held == ["192.0.2.10"]
    assert [(m.ip, m.kind) for m in await store.measures(1_000_000.0)] == [("192.0.2.10", "hold")]
    assert [(f.target, f.status) for f in await store.provider_feedback()] == [
        ("acme.example", "OVER")
    ]
    assert google.claims[0]["iss"] == EMAIL and google.claims[0]["scope"] == postmaster.SCOPE
    assert google.claims[0]["aud"] == f"{google.url}/token"
    day = report.days["acme.example"]
    assert day is not None and day.day == "20261203" and day.bad_ips == ("192.0.2.10",)
    assert [(a.key, a.firing) for a in sent] == [
        ("gmail-spam:acme.example", True),
        ("gmail-reputation:acme.example", False),
    ]
    google.ratio = 0.001
    sent.clear()
    report = await run_once(s, alert, clock=lambda: 1_090_000.0, store=store)
    assert (
        report.over == []
        and report.held == []
        and sent[0].key == "gmail-spam:acme.example"
        and not sent[0].firing
    )


async def test_a_refused_token_changes_nothing(google: Google, tmp_path: Path) -> None:
    sent: list[Alert] = []

    async def alert(a: Alert) -> None:
        sent.append(a)

    s = settings(google.url, tmp_path)
    cfg = s.providers.postmaster
    assert cfg is not None
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = other.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    Path(cfg.credentials_file).write_text(json.dumps({"client_email": EMAIL, "private_key": pem}))
    report = await run_once(s, alert)
    assert report.error is not None and "HTTP 400" in report.error and sent == []


def test_parse_rejects_what_is_not_the_documented_shape() -> None:
    with pytest.raises(postmaster.PostmasterFormatError, match=r"trafficStats\[0\]\.name"):
        postmaster.parse_traffic_stats("a.example", {"trafficStats": [{}]})
    with pytest.raises(postmaster.PostmasterFormatError, match="userReportedSpamRatio"):
        postmaster.parse_traffic_stats(
            "a.example", {"trafficStats": [{"name": "x/1", "userReportedSpamRatio": "high"}]}
        )
    assert postmaster.parse_traffic_stats("a.example", {}) == []


async def test_v2_reads_the_daily_spam_rate_and_the_compliance_status(
    google: Google, tmp_path: Path, store
) -> None:
    sent: list[Alert] = []

    async def alert(a: Alert) -> None:
        sent.append(a)

    s = settings(google.url, tmp_path, version=2)
    now = 1_796_300_000.0  # 2026-12-03 UTC
    report = await run_once(s, alert, clock=lambda: now, store=store)
    assert report.error is None and report.over == ["acme.example"]
    assert google.claims[0]["scope"] == postmaster.SCOPE_V2
    [span] = google.queries[0]["timeQuery"]["dateRanges"]["dateRanges"]
    assert span["end"] == {"year": 2026, "month": 12, "day": 3}
    assert span["start"] == {"year": 2026, "month": 11, "day": 26}
    day = report.days["acme.example"]
    assert day is not None and (day.day, day.spam_ratio) == ("20261203", 0.005)
    assert report.compliance == {
        "acme.example": ("DMARC_POLICY", "ONE_CLICK_UNSUBSCRIBE (NO_UNSUB_GENERAL)")
    }
    assert {(a.key, a.firing) for a in sent} >= {
        ("gmail-spam:acme.example", True),
        ("gmail-compliance:acme.example", True),
    }
    [finding] = await store.provider_feedback()
    assert finding.status == "OVER" and "needs work: DMARC_POLICY" in finding.detail
    google.failing = set()
    google.ratio = 0.0005
    sent.clear()
    report = await run_once(s, alert, clock=lambda: now + 86400, store=store)
    assert report.over == [] and report.compliance == {"acme.example": ()}
    assert {(a.key, a.firing) for a in sent} >= {
        ("gmail-spam:acme.example", False),
        ("gmail-compliance:acme.example", False),
    }


def test_v2_parsing_keeps_to_the_documented_shape() -> None:
    body = {"domainStats": [{"metric": "spam_rate", "date": {"year": 2026}, "value": {
        "doubleValue": 0.1}}]}  # fmt: skip
    with pytest.raises(postmaster.PostmasterFormatError, match=r"domainStats\[0\]\.date"):
        postmaster.parse_domain_stats("a.example", body)
    assert postmaster.parse_domain_stats("a.example", {"domainStats": [{"metric": "x"}]}) == []
    assert postmaster.parse_compliance({}) == ()
    sub = {"subdomainComplianceData": {"rowData": [
        {"requirement": "SPF", "status": {"status": "NEEDS_WORK"}}]}}  # fmt: skip
    assert postmaster.parse_compliance(sub) == ("SPF",)
