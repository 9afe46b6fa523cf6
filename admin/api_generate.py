"""Admin API: configuration for the systems around Sluice, written from its settings.

The PowerMTA fragment (the same text ``sluice powermta-config`` prints), the
values of a tenant's MailWizz delivery server with today's quotas, and the
DNS records of a domain's DKIM keys.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import Field

from admin import dkim_records, mailwizz_server, powermta_config
from admin.api import ApiError, context, tenant_of
from admin.api_ips import quota_rows
from admin.api_models import Error, Out, Raw
from admin.ip_json import MaybeCount
from admin.openapi import route

TAG = "generate"


async def powermta_config_text(request: web.Request) -> web.Response:
    settings = context(request).settings()
    try:
        # Reads key files when PowerMTA signs: off the event loop.
        text = await asyncio.to_thread(powermta_config.render, settings)
    except powermta_config.PowerMtaConfigError as exc:
        raise ApiError(409, "incomplete_configuration", str(exc), exc.key) from None
    return web.Response(text=text, content_type="text/plain", charset="utf-8")


async def mailwizz_delivery_server(request: web.Request) -> dict[str, Any]:
    tenant = tenant_of(request)
    ctx = context(request)
    settings = ctx.settings()
    rows = await quota_rows(ctx, ctx.clock(), tenant=tenant)
    return mailwizz_server.delivery_server(settings, tenant, rows)


async def dkim_dns(request: web.Request) -> dict[str, Any]:
    settings = context(request).settings()
    domain = dkim_records.normalise(request.match_info["domain"])
    found = await asyncio.to_thread(dkim_records.records, settings, domain)
    if not found:
        known = ", ".join(dkim_records.known_domains(settings)) or "none"
        raise ApiError(404, "unknown_domain", f"no DKIM key for {domain!r} (known: {known})")
    return {"domain": domain, "records": found}


class Header(Out):
    name: str
    value: str


class FormField(Out):
    field: str = Field(description="The label in MailWizz's SMTP delivery-server form.")
    value: str = Field(description="What to type or choose.")
    why: str


class DeliveryServer(Out):
    tenant: str
    type: Literal["smtp"] = "smtp"
    hostname: str = Field(description="smtp.advertised_host, else smtp.hostname.")
    port: int
    protocol: Literal["starttls", "none"]
    usernames: list[str] = Field(
        description="The tenant's SMTP AUTH logins; passwords are never shown."
    )
    from_domains: list[str]
    hourly_quota: MaybeCount = Field(
        None, description="What the pool can still take this hour (null: no limit)."
    )
    daily_quota: MaybeCount = Field(
        None, description="What the pool can still take today (null: no limit)."
    )
    capacity: dict[str, Any] = {}
    limits: dict[str, Any] = {}
    additional_headers: list[Header] = []
    headers_read: list[dict[str, Any]] = []
    notes: list[str] = []
    form: list[FormField] = Field(
        [], description="Every field of MailWizz's form, as README's MailWizz section lists them."
    )


class DkimRecord(Out):
    selector: str
    name: str = Field(description="selector._domainkey.domain")
    type: Literal["TXT"]
    value: str | None = Field(None, description="v=DKIM1; k=...; p=...")
    strings: list[Annotated[str, Field(max_length=255)]] | None = Field(
        None, description="The value as the character-strings of one TXT record."
    )
    zone: str | None = Field(None, description="A zone-file line.")
    key_type: Literal["rsa", "ed25519"] | None = None
    key_file: str | None = None
    tenants: list[str]
    error: str | None = Field(None, description="Why the key file gave no value.")


class DkimRecords(Out):
    domain: str
    records: list[DkimRecord]


def add_routes(app: web.Application) -> None:
    route(
        app,
        "GET",
        "/api/powermta/config",
        powermta_config_text,
        role="viewer",
        summary="The PowerMTA configuration for Sluice's pools, source and accounting",
        tag=TAG,
        responses={200: Raw("text/plain"), 409: Error},
    )
    route(
        app,
        "GET",
        "/api/mailwizz/delivery-server/{tenant}",
        mailwizz_delivery_server,
        role="viewer",
        summary="What to enter in a tenant's MailWizz SMTP delivery server, quotas as of now",
        tag=TAG,
        responses={200: DeliveryServer, 503: Error},
    )
    route(
        app,
        "GET",
        "/api/dkim/{domain}",
        dkim_dns,
        role="viewer",
        summary="The DNS TXT records of a domain's DKIM keys",
        tag=TAG,
        responses={200: DkimRecords},
    )
