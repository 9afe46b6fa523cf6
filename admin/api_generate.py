"""Admin API: configuration for the systems around Sluice, written from its settings.

The PowerMTA fragment (the same text ``sluice powermta-config`` prints), the
values of a tenant's MailWizz delivery server with today's quotas, and the
DNS records of a domain's DKIM keys.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from admin import dkim_records, mailwizz_server, powermta_config
from admin.api import ApiError, context, route, tenant_of
from admin.api_ips import quota_rows

TAG = "generate"
ERROR_REF = {"$ref": "#/components/schemas/Error"}
MAYBE_COUNT = {"type": "integer", "minimum": 0, "nullable": True}


async def powermta_config_text(request: web.Request) -> web.Response:
    settings = context(request).settings()
    try:
        # Reads key files when PowerMTA signs: off the event loop.
        text = await asyncio.to_thread(powermta_config.render, settings)
    except powermta_config.PowerMtaConfigError as exc:
        raise ApiError(409, "incomplete_configuration", str(exc), exc.key) from None
    return web.Response(text=text, content_type="text/plain", charset="utf-8")


async def mailwizz_delivery_server(request: web.Request) -> web.Response:
    tenant = tenant_of(request)
    ctx = context(request)
    settings = ctx.settings()
    rows = await quota_rows(ctx, ctx.clock(), tenant=tenant)
    return web.json_response(mailwizz_server.delivery_server(settings, tenant, rows))


async def dkim_dns(request: web.Request) -> web.Response:
    settings = context(request).settings()
    domain = dkim_records.normalise(request.match_info["domain"])
    found = await asyncio.to_thread(dkim_records.records, settings, domain)
    if not found:
        known = ", ".join(dkim_records.known_domains(settings)) or "none"
        raise ApiError(404, "unknown_domain", f"no DKIM key for {domain!r} (known: {known})")
    return web.json_response({"domain": domain, "records": found})


HEADER_SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "value": {"type": "string"}},
}

MAILWIZZ_SCHEMA = {
    "type": "object",
    "required": ["tenant", "hostname", "port", "protocol", "usernames", "from_domains"],
    "properties": {
        "tenant": {"type": "string"},
        "type": {"type": "string", "enum": ["smtp"]},
        "hostname": {
            "type": "string",
            "description": "smtp.advertised_host, else smtp.hostname.",
        },
        "port": {"type": "integer"},
        "protocol": {"type": "string", "enum": ["starttls", "none"]},
        "usernames": {
            "type": "array",
            "items": {"type": "string"},
            "description": "The tenant's SMTP AUTH logins; passwords are never shown.",
        },
        "from_domains": {"type": "array", "items": {"type": "string"}},
        "hourly_quota": {
            **MAYBE_COUNT,
            "description": "What the pool can still take this hour (null: no limit).",
        },
        "daily_quota": {
            **MAYBE_COUNT,
            "description": "What the pool can still take today (null: no limit).",
        },
        "capacity": {"type": "object"},
        "limits": {"type": "object"},
        "additional_headers": {"type": "array", "items": HEADER_SCHEMA},
        "headers_read": {"type": "array", "items": {"type": "object"}},
        "notes": {"type": "array", "items": {"type": "string"}},
    },
}

RECORD_SCHEMA = {
    "type": "object",
    "required": ["selector", "name", "type", "tenants"],
    "properties": {
        "selector": {"type": "string"},
        "name": {"type": "string", "description": "selector._domainkey.domain"},
        "type": {"type": "string", "enum": ["TXT"]},
        "value": {"type": "string", "description": "v=DKIM1; k=...; p=..."},
        "strings": {
            "type": "array",
            "items": {"type": "string", "maxLength": 255},
            "description": "The value as the character-strings of one TXT record.",
        },
        "zone": {"type": "string", "description": "A zone-file line."},
        "key_type": {"type": "string", "enum": ["rsa", "ed25519"]},
        "key_file": {"type": "string"},
        "tenants": {"type": "array", "items": {"type": "string"}},
        "error": {"type": "string", "description": "Why the key file gave no value."},
    },
}


def add_routes(app: web.Application) -> None:
    route(
        app,
        "GET",
        "/api/powermta/config",
        powermta_config_text,
        role="viewer",
        summary="The PowerMTA configuration for Sluice's pools, source and accounting",
        tag=TAG,
        responses={
            200: {"content": {"text/plain": {"schema": {"type": "string"}}}},
            409: ERROR_REF,
        },
    )
    route(
        app,
        "GET",
        "/api/mailwizz/delivery-server/{tenant}",
        mailwizz_delivery_server,
        role="viewer",
        summary="What to enter in a tenant's MailWizz SMTP delivery server, quotas as of now",
        tag=TAG,
        responses={200: MAILWIZZ_SCHEMA, 503: ERROR_REF},
    )
    route(
        app,
        "GET",
        "/api/dkim/{domain}",
        dkim_dns,
        role="viewer",
        summary="The DNS TXT records of a domain's DKIM keys",
        tag=TAG,
        responses={
            200: {
                "type": "object",
                "properties": {
                    "domain": {"type": "string"},
                    "records": {"type": "array", "items": RECORD_SCHEMA},
                },
            }
        },
    )
