"""The admin listener: health, readiness, Prometheus metrics and the admin API.

Readiness checks and the admin context arrive from the daemon, so the
admin side never imports the gateway.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from admin import api, api_control, api_ips, api_lists, api_quotas, api_tenants, status_page
from admin import metrics as scrape_metrics
from admin import openapi as description
from admin.api_contacts import add_routes as add_contact_routes
from admin.api_dns_check import add_routes as add_dns_check_routes
from admin.api_enrollment import add_routes as add_enrollment_routes
from admin.api_generate import add_routes as add_generate_routes
from admin.api_prospects import add_routes as add_prospect_routes
from admin.api_provider_feedback import add_routes as add_provider_feedback_routes
from admin.api_replies import add_routes as add_reply_routes
from admin.api_reputation import add_routes as add_reputation_routes
from admin.api_rotation import add_routes as add_rotation_routes
from admin.api_scenarios import add_routes as add_scenario_routes
from admin.api_spool import add_routes as add_spool_routes
from admin.api_templates import add_routes as add_template_routes
from admin.auth import authenticate

Check = Callable[[], Awaitable[None]]
CHECKS = web.AppKey("checks", dict)
DEGRADABLE = web.AppKey("degradable", frozenset)
METRICS_REGISTRY = web.AppKey("metrics_registry", CollectorRegistry)
CHECK_TIMEOUT = 2.0
# Every JSON body of the API fits in far less: a larger one is refused (413)
# before it is read whole, so no token, even a viewer's, can make the process
# parse tens of MB on the loop. The CSV import reads up to its own cap.
MAX_BODY = 1024 * 1024


async def healthz(request: web.Request) -> web.Response:
    """The process is alive and its event loop answers."""
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Every dependency answers: 200 "ready"; only degradable ones fail: 200 "degraded"
    (mail still flows, e.g. on cached policy while the database is away); else 503
    naming what failed."""
    checks: dict[str, Check] = request.app[CHECKS]
    degradable: frozenset[str] = request.app[DEGRADABLE]
    results = await asyncio.gather(*(_run(check) for check in checks.values()))
    report = dict(zip(checks, results, strict=True))
    failed = {name for name, result in report.items() if result != "ok"}
    status = "ready" if not failed else "degraded" if failed <= degradable else "not ready"
    return web.json_response(
        {"status": status, "checks": report}, status=503 if status == "not ready" else 200
    )


async def _run(check: Check) -> str:
    try:
        await asyncio.wait_for(check(), CHECK_TIMEOUT)
    except TimeoutError:
        return "timeout"
    except Exception as exc:
        return f"error: {exc.__class__.__name__}: {exc}"[:200]
    return "ok"


LOOPBACK = ("127.0.0.0/8", "::1/128")


def may_scrape(remote: str | None, authorization: str, ctx: api.AdminContext | None) -> bool:
    """A client in ``http.metrics_networks``, or one with an admin token of any role."""
    http = ctx.settings().http if ctx is not None else None
    networks = http.metrics_networks if http is not None else LOOPBACK
    try:
        address = ipaddress.ip_address(remote or "")
    except ValueError:
        address = None
    if address is not None and any(address in ipaddress.ip_network(n) for n in networks):
        return True
    scheme, _, token = authorization.partition(" ")
    if http is None or scheme.lower() != "bearer" or not token:
        return False
    return authenticate(http.admin_tokens, token.strip()) is not None


async def metrics(request: web.Request) -> web.Response:
    ctx = request.app.get(api.CONTEXT)
    if not may_scrape(request.remote, request.headers.get("Authorization", ""), ctx):
        # It names tenants and IPs: only the configured networks, or a token.
        return api.error_response(
            403, "forbidden", "not in http.metrics_networks: send an admin token as Bearer"
        )
    if ctx is not None:
        await scrape_metrics.refresh(ctx)
    return web.Response(
        body=generate_latest(request.app[METRICS_REGISTRY]),
        headers={"Content-Type": CONTENT_TYPE_LATEST},
    )


def make_app(
    checks: dict[str, Check],
    degradable: frozenset[str] = frozenset(),
    ctx: api.AdminContext | None = None,
) -> web.Application:
    """The admin application; with a context, the admin API under /api/ too."""
    app = web.Application(middlewares=[api.middleware], client_max_size=MAX_BODY)
    app[CHECKS] = checks
    app[DEGRADABLE] = degradable
    app[METRICS_REGISTRY] = scrape_metrics.registry()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    app[description.DESCRIPTION] = description.Description()
    app[api.ROLE_OF] = {}
    app[api.OPEN_PATHS] = set()
    if ctx is not None:
        app[api.CONTEXT] = ctx
        description.route(
            app,
            "GET",
            "/api/openapi.json",
            description.openapi_json,
            role=None,
            summary="This description",
            tag="meta",
            responses={200: description.Raw("application/json", {"type": "object"})},
        )
        for add_routes in API_MODULES:
            add_routes(app)
        status_page.add_routes(app)  # the operators' page at /
    return app


# Each adds its routes with admin.openapi.route(); order is the order of the description.
API_MODULES: list = [
    api_tenants.add_routes,
    api_ips.add_routes,
    api_quotas.add_routes,
    api_control.add_routes,
    api_lists.add_routes,
    add_generate_routes,
    add_spool_routes,
    add_reputation_routes,
    add_scenario_routes,
    add_reply_routes,
    add_contact_routes,
    add_template_routes,
    add_provider_feedback_routes,
    add_rotation_routes,
    add_dns_check_routes,
    add_prospect_routes,
    add_enrollment_routes,
]
