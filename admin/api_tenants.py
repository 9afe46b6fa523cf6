"""Admin API: the tenants as configured: pool, domains, time zone, what is turned on.

Read from the configuration in force; never a secret (password hashes,
tracking keys, webhook secrets stay out).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from admin.api import context, route, tenant_of
from conf import Settings, TenantSettings

TENANT_SCHEMA = {
    "type": "object",
    "description": "What a tenant is configured to do; never its secrets.",
    "required": ["name", "pool", "sender_domains", "timezone", "sending_hours"],
    "properties": {
        "name": {"type": "string"},
        "pool": {"type": "string"},
        "sender_domains": {"type": "array", "items": {"type": "string"}},
        "timezone": {"type": "string", "description": "Where its quota days start."},
        "sending_hours": {"type": "number"},
        "bounce_domain": {"type": "string", "nullable": True},
        "tracking": {"type": "boolean", "description": "Opens or clicks are tracked."},
        "unsubscribe": {"type": "boolean", "description": "Sluice sets List-Unsubscribe."},
        "feedback_id": {"type": "boolean", "description": "Sluice sets Feedback-ID."},
        "mailwizz": {"type": "boolean", "description": "Feedback is posted to MailWizz."},
    },
}


def tenant_json(settings: Settings, t: TenantSettings) -> dict[str, Any]:
    return {
        "name": t.name,
        "pool": t.pool,
        "sender_domains": list(t.sender_domains),
        "timezone": t.timezone or settings.warmup.timezone,
        "sending_hours": t.sending_hours or settings.warmup.sending_hours,
        "bounce_domain": t.bounce_domain,
        "tracking": t.tracking is not None and (t.tracking.opens or t.tracking.clicks),
        "unsubscribe": t.unsubscribe is not None and t.unsubscribe.headers != "keep",
        "feedback_id": t.feedback_id is not None,
        "mailwizz": t.mailwizz_dswh is not None,
    }


async def list_tenants(request: web.Request) -> web.Response:
    settings = context(request).settings()
    return web.json_response({"tenants": [tenant_json(settings, t) for t in settings.tenants]})


async def get_tenant(request: web.Request) -> web.Response:
    name = tenant_of(request)
    settings = context(request).settings()
    tenant = next(t for t in settings.tenants if t.name == name)
    return web.json_response(tenant_json(settings, tenant))


def add_routes(app: web.Application) -> None:
    route(
        app,
        "GET",
        "/api/tenants",
        list_tenants,
        role="viewer",
        summary="Every tenant: pool, domains, time zone, features (no secrets)",
        tag="tenants",
        responses={
            200: {
                "type": "object",
                "required": ["tenants"],
                "properties": {"tenants": {"type": "array", "items": TENANT_SCHEMA}},
            }
        },
    )
    route(
        app,
        "GET",
        "/api/tenants/{tenant}",
        get_tenant,
        role="viewer",
        summary="One tenant",
        tag="tenants",
        responses={200: TENANT_SCHEMA},
    )
