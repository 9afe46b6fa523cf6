"""Admin API: the tenants as configured: pool, domains, time zone, what is turned on.

Read from the configuration in force; never a secret (password hashes,
tracking keys, webhook secrets stay out).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import Field

from admin.api import context, tenant_of
from admin.api_models import Out
from admin.openapi import route
from conf import Settings, TenantSettings


class Tenant(Out):
    """What a tenant is configured to do; never its secrets."""

    name: str
    pool: str
    sender_domains: list[str]
    timezone: str = Field(description="Where its quota days start.")
    sending_hours: float
    bounce_domain: str | None = None
    tracking: bool = Field(description="Opens or clicks are tracked.")
    unsubscribe: bool = Field(description="Sluice sets List-Unsubscribe.")
    feedback_id: bool = Field(description="Sluice sets Feedback-ID.")
    mailwizz: bool = Field(description="Feedback is posted to MailWizz.")


class Tenants(Out):
    tenants: list[Tenant]


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


async def list_tenants(request: web.Request) -> dict[str, Any]:
    settings = context(request).settings()
    return {"tenants": [tenant_json(settings, t) for t in settings.tenants]}


async def get_tenant(request: web.Request) -> dict[str, Any]:
    name = tenant_of(request)
    settings = context(request).settings()
    tenant = next(t for t in settings.tenants if t.name == name)
    return tenant_json(settings, tenant)


def add_routes(app: web.Application) -> None:
    route(
        app,
        "GET",
        "/api/tenants",
        list_tenants,
        role="viewer",
        summary="Every tenant: pool, domains, time zone, features (no secrets)",
        tag="tenants",
        responses={200: Tenants},
    )
    route(
        app,
        "GET",
        "/api/tenants/{tenant}",
        get_tenant,
        role="viewer",
        summary="One tenant",
        tag="tenants",
        responses={200: Tenant},
    )
