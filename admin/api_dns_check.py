"""Admin API: the DNS authentication check (scheduler/reputation/dnsauth.py), last and now.

The daemon hands the app the same DnsCheck its ``dns-check`` task runs, so
``GET`` shows the daily report and ``POST`` runs one now (its alerts go
through the same memory of what was announced). Without one from the
daemon (tests, an app built alone) the routes keep their own.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from aiohttp import web
from pydantic import Field

from admin.api import CONTEXT, ApiError, context
from admin.api_models import Body, Out
from admin.openapi import route
from scheduler.alerts import Alerter
from scheduler.reputation.dns_lookup import settings_of
from scheduler.reputation.dnsauth import DnsCheck

TAG = "reputation"
DNS_CHECK = web.AppKey("dns_check", DnsCheck)


class RunBody(Body):
    tenant: str | None = Field(None, max_length=63, description="only this tenant; absent: all")


class DomainOut(Out):
    tenant: str
    target: str = Field(description="a domain, or an IP for its PTR")
    kind: str = Field(description="domain or ip")
    problems: list[str] = Field(description="each problem, worded to be fixed from it alone")
    notes: list[str] = Field(description="what was found right: lookups, policy, keys")


class ReportOut(Out):
    at: float = Field(description="unix time the check started")
    seconds: float
    queries: int = Field(description="DNS queries asked")
    problems: int
    reports: list[DomainOut]


class DnsCheckOut(Out):
    configured: bool = Field(description="dns_check: is configured: the check runs daily")
    resolver: str = Field(description="host:port every query goes to")
    interval: float = Field(description="seconds between daily checks")
    report: ReportOut | None = Field(description="the last check's report; null: none yet")


def _check(request: web.Request) -> DnsCheck:
    return request.app[DNS_CHECK]


def _answer(request: web.Request, check: DnsCheck) -> dict[str, Any]:
    settings = context(request).settings()
    last = check.last
    report = None
    if last is not None:
        report = {
            "at": last.at,
            "seconds": round(last.seconds, 3),
            "queries": last.queries,
            "problems": last.problems,
            "reports": [asdict(r) for r in last.reports],
        }
    return {
        "configured": settings.dns_check is not None,
        "resolver": settings.dns_resolver,
        "interval": settings_of(settings).interval,
        "report": report,
    }


async def dns_check_last(request: web.Request) -> dict[str, Any]:
    return _answer(request, _check(request))


async def dns_check_run(request: web.Request, body: RunBody) -> dict[str, Any]:
    known = [t.name for t in context(request).settings().tenants]
    if body.tenant is not None and body.tenant not in known:
        raise ApiError(404, "unknown_tenant", f"no tenant {body.tenant!r}", "tenant")
    check = _check(request)
    await check.run(body.tenant)
    return _answer(request, check)


def add_routes(app: web.Application) -> None:
    if DNS_CHECK not in app:
        settings = app[CONTEXT].settings
        app[DNS_CHECK] = DnsCheck(settings, Alerter(settings))
    route(
        app,
        "GET",
        "/api/dns-check",
        dns_check_last,
        role="viewer",
        summary="DNS authentication: the last check's problems and notes per domain or IP",
        tag=TAG,
        responses={200: DnsCheckOut},
    )
    route(
        app,
        "POST",
        "/api/dns-check",
        dns_check_run,
        role="operator",
        summary="Check SPF, DKIM, DMARC, PTR, MX and tracking DNS now (all tenants or one)",
        tag=TAG,
        body=RunBody,
        responses={200: DnsCheckOut},
        body_required=False,
    )
