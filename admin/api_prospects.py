"""Admin API: prospects posted by a scraper or a CRM (``POST /api/prospects/{tenant}``).

Authenticated by the tenant's own ingest keys (``tenants[].ingest_keys``), sent in
``X-Api-Key``, never by the admin's bearer tokens: a scraper's key can post
prospects and do nothing else. The key is hashed and compared with every
configured digest in constant time; failures count in the same brake as the
admin's logins. The body is read only after the key is accepted.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any, ClassVar

from aiohttp import web
from pydantic import Field

from admin.api import ApiError, context, unbraked_client
from admin.api_models import Body, Error, Out, Raw, read_body
from admin.openapi import route
from conf.schema.tenant import TenantSettings
from policy.enrollment.prospects import MAX_BATCH
from scheduler import prospects

TAG = "prospects"
HEADER = "X-Api-Key"


class Batch(Body):
    MAX_BYTES: ClassVar[int] = 8 * 1024 * 1024  # 500 prospects with their custom fields
    prospects: list[dict[str, Any]] = Field(
        max_length=MAX_BATCH,
        description="email (required), domain, name or first_name and last_name, category,"
        " language, country, tier, score, custom, source",
    )
    source: str | None = Field(
        None,
        max_length=200,
        description="the source of items that name none; default: the key's name",
    )


class ProspectResult(Out):
    index: int
    email: str
    result: str = Field(description="created, updated, unchanged, invalid or duplicate")
    reason: str = Field(description="why invalid or duplicate; flags of a stored one")


class Ingested(Out):
    created: int
    updated: int
    unchanged: int
    invalid: int
    duplicate: int
    items: list[ProspectResult]


def _key_name(request: web.Request, tenant: TenantSettings | None) -> str:
    """The name of the ingest key presented, or 401 naming the header (429 when braked)."""
    ctx = context(request)
    assert ctx.limiter is not None
    client = unbraked_client(request, "keys")
    presented = request.headers.get(HEADER, "").strip()
    if not presented:
        raise ApiError(401, "unauthorized", f"send the tenant's ingest key in {HEADER}", HEADER)
    wanted = hashlib.sha256(presented.encode()).hexdigest()
    found = None
    for key in tenant.ingest_keys if tenant is not None else ():
        if hmac.compare_digest(wanted, key.key_sha256):  # every one compared
            found = key.name
    if found is None:
        ctx.limiter.failed(client)
        raise ApiError(401, "unauthorized", f"{HEADER}: not an ingest key of this tenant", HEADER)
    ctx.limiter.succeeded(client)
    return found


async def post_prospects(request: web.Request) -> Ingested:
    s = context(request).settings()
    name = request.match_info["tenant"]
    tenant = next((t for t in s.tenants if t.name == name), None)
    key = _key_name(request, tenant)  # an unknown tenant has no keys: 401, not 404
    assert tenant is not None
    body = await read_body(request, Batch, True)
    assert isinstance(body, Batch)
    results = await prospects.ingest(
        context(request).store,
        prospects.MxChecker.of(s),
        s.enrollment,
        tenant.name,
        body.prospects,
        body.source or key,
        time.time(),
    )
    counts = {k: 0 for k in ("created", "updated", "unchanged", "invalid", "duplicate")}
    for r in results:
        counts[r.result] += 1
    items = [ProspectResult(index=r.index, email=r.email, result=r.result, reason=r.reason)
             for r in results]  # fmt: skip
    return Ingested(**counts, items=items)


def add_routes(app: web.Application) -> None:
    route(
        app, "POST", "/api/prospects/{tenant}", post_prospects, role=None,
        summary=f"Post up to {MAX_BATCH} prospects (X-Api-Key: a tenant's ingest key)",
        tag=TAG, body=Raw("application/json", model=Batch), security="ingestKey",
        responses={200: Ingested, 401: Error, 429: Error},
    )  # fmt: skip
