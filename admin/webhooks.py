"""Inbound webhooks on the admin listener: PowerMTA accounting records over HTTP.

``POST /api/webhooks/powermta`` takes the records PowerMTA's HTTP accounting
(and MailWizz's ``/dswh/pmta``) send: one JSON object, a JSON array of
objects, or NDJSON (one object per line). It answers 200 with the number of
records read once they had their effects, 400 for a body that is not
records (nothing of it applied), 401 without the bearer token and 404 when
``feedback.webhook_token`` is not set. Wrong tokens count against the
client like failed admin logins (``admin.auth.FailureLimiter``, the admin
API's brake, ``http.auth_failure_limit`` within ``http.auth_lockout``):
past the limit the client gets 429 with ``Retry-After``, even with the
right token, until the window passes. The daemon hands the ingest function
as a plain callable, so this module knows nothing of the scheduler's insides.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Awaitable, Callable, Sequence

from aiohttp import web

from admin import api
from admin.api_models import Out, Raw
from admin.auth import FailureLimiter
from admin.clients import LOOPBACK, client_address
from admin.openapi import route

log = logging.getLogger("sluice.admin.webhooks")

Ingest = Callable[[Sequence[dict]], Awaitable[int]]
INGEST: web.AppKey[Ingest] = web.AppKey("powermta_ingest")
TOKEN: web.AppKey[Callable[[], str | None]] = web.AppKey("powermta_token")
LIMITER: web.AppKey[FailureLimiter] = web.AppKey("powermta_limiter")
MAX_BODY = 32 * 1024 * 1024


class Ingested(Out):
    records: int
    feedback: int


def add_powermta(app: web.Application, ingest: Ingest, token: Callable[[], str | None]) -> None:
    """Route the PowerMTA webhook on ``app``; ``token`` is read per request (reloads)."""
    app[INGEST] = ingest
    app[TOKEN] = token
    app[LIMITER] = FailureLimiter(5, 300.0)  # used when the app has no admin context
    route(
        app,
        "POST",
        "/api/webhooks/powermta",
        powermta,
        role=None,  # its own token: feedback.webhook_token
        summary="PowerMTA accounting records (JSON or NDJSON), as its HTTP accounting posts",
        tag="feedback",
        body=Raw(
            "application/json",
            {"oneOf": [{"type": "object"}, {"type": "array", "items": {"type": "object"}}]},
        ),
        responses={200: Ingested},
    )


async def powermta(request: web.Request) -> web.Response | Ingested:
    expected = request.app[TOKEN]()
    if not expected:
        raise web.HTTPNotFound()
    limiter = _limiter(request.app)
    ctx = request.app.get(api.CONTEXT)
    proxies = ctx.settings().http.trusted_proxies if ctx is not None else LOOPBACK
    client = client_address(request, proxies)
    wait = limiter.retry_after(client)
    if wait > 0:
        message = f"too many failed tokens: retry in {wait:.0f}s"
        return api.error_response(
            429, "too_many_failures", message, **{"Retry-After": f"{wait:.0f}"}
        )
    given = request.headers.get("Authorization", "")
    if not hmac.compare_digest(given.encode(), f"Bearer {expected}".encode()):
        limiter.failed(client)
        return api.error_response(
            401, "unauthorized", "send Authorization: Bearer <feedback.webhook_token>"
        )
    limiter.succeeded(client)
    body = await _body(request)
    try:
        records = parse_records(body)
    except ValueError as exc:
        return api.error_response(400, "invalid_records", str(exc))
    used = await request.app[INGEST](records)
    return Ingested(records=len(records), feedback=used)


def _limiter(app: web.Application) -> FailureLimiter:
    # The admin API's own limiter when the app has one: one brake per client address.
    ctx = app.get(api.CONTEXT)
    if ctx is not None and ctx.limiter is not None:
        return ctx.limiter
    return app[LIMITER]


async def _body(request: web.Request) -> bytes:
    declared = request.content_length or 0
    if declared > MAX_BODY:
        raise web.HTTPRequestEntityTooLarge(max_size=MAX_BODY, actual_size=declared)
    chunks, size = [], 0
    async for chunk in request.content.iter_chunked(65536):
        size += len(chunk)
        if size > MAX_BODY:
            raise web.HTTPRequestEntityTooLarge(max_size=MAX_BODY, actual_size=size)
        chunks.append(chunk)
    return b"".join(chunks)


def parse_records(body: bytes) -> list[dict]:
    """JSON (an object or an array of objects) or NDJSON, as a list of objects."""
    text = body.decode("utf-8", "replace").strip()
    if not text:
        return []
    try:
        value = json.loads(text)
    except ValueError:
        value = None
        lines = [line for line in text.splitlines() if line.strip()]
        try:
            value = [json.loads(line) for line in lines]
        except ValueError as exc:
            raise ValueError("body is neither JSON nor NDJSON") from exc
    records = value if isinstance(value, list) else [value]
    if not all(isinstance(r, dict) for r in records):
        raise ValueError("every record must be a JSON object")
    return records
