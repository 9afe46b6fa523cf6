"""The admin API's frame: context, authentication, roles, errors and the audit log.

Routes are declared in ``admin.openapi`` (``route()``: handler, role and
the models of its input and answers, from which the checks and the
description at ``/api/openapi.json`` both come); the models' bases and the
readers are in ``admin.api_models``. Every error is JSON:
``{"error": {"code": ..., "message": ..., "field": ...}}``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aiohttp import web

from admin.auth import FailureLimiter, Principal, Sessions, authenticate
from admin.clients import client_address
from conf import Settings
from policy import audit as audit_log
from policy.quota.operations import Usage
from policy.store import Store
from policy.view import PolicyView

if TYPE_CHECKING:
    from admin.status_volumes import DownstreamLine
    from scheduler.mailwizz_sync import RoundReport

log = logging.getLogger("sluice.admin")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class AdminContext:
    """What admin handlers work on, handed over by the daemon."""

    settings: Callable[[], Settings]  # the configuration in force (a reload swaps it)
    store: Store
    counters: Usage | None = None  # live quota use; None: read from recorded events
    policy: PolicyView | None = None
    # Reloads the configuration; None when it was applied, else why it was refused.
    reload: Callable[[], Awaitable[str | None]] | None = None
    clock: Callable[[], datetime] = _utc_now
    limiter: FailureLimiter | None = None  # built from the settings when None
    sessions: Sessions | None = None
    # The MailWizz quota sync's last round, for the status page; None: no sync running.
    mailwizz: Callable[[], RoundReport | None] | None = None
    # PowerMTA's reachability for the status page; None: not known (dry run, tests).
    downstream: Callable[[], DownstreamLine | None] | None = None

    def __post_init__(self) -> None:
        http = self.settings().http
        if self.limiter is None:
            self.limiter = FailureLimiter(http.auth_failure_limit, http.auth_lockout)
        if self.sessions is None:
            self.sessions = Sessions(http.session_ttl)


CONTEXT = web.AppKey("admin_context", AdminContext)
ROLE_OF = web.AppKey("route_roles", dict)  # (method, path template) -> role
# Paths under /api/ with their own authentication (or none).
OPEN_PATHS = web.AppKey("open_paths", set)
PRINCIPAL = web.RequestKey("principal", Principal)


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, field: str | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field


def error_response(
    status: int, code: str, message: str, field: str | None = None, **headers: str
) -> web.Response:
    body: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        body["field"] = field
    return web.json_response({"error": body}, status=status, headers=headers or None)


def context(request: web.Request) -> AdminContext:
    return request.app[CONTEXT]


def principal(request: web.Request) -> Principal:
    return request[PRINCIPAL]


# -- authentication and errors -------------------------------------------------


@web.middleware
async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Bearer authentication and JSON errors for every path under /api/."""
    if not request.path.startswith("/api/"):
        return await handler(request)
    try:
        resource = request.match_info.route.resource
        template = resource.canonical if resource is not None else request.path
        key = (request.method, template)
        if key not in request.app.get(OPEN_PATHS, set()):
            request[PRINCIPAL] = _authorize(request, request.app.get(ROLE_OF, {}).get(key))
        return await handler(request)
    except ApiError as exc:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else {}
        if exc.status == 429:
            headers["Retry-After"] = exc.field or "1"
            return error_response(429, exc.code, exc.message, **headers)
        return error_response(exc.status, exc.code, exc.message, exc.field, **headers)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        # A 405 names the methods the path takes (RFC 9110 requires Allow).
        allow = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else {}
        return error_response(exc.status, _code(exc.status), exc.reason, **allow)
    except Exception:
        log.exception("admin API: %s %s failed", request.method, request.path)
        return error_response(500, "internal", "internal error: see the daemon's log")


def _code(status: int) -> str:
    return {404: "not_found", 405: "method_not_allowed", 413: "too_large"}.get(status, "error")


def unbraked_client(request: web.Request, what: str) -> str:
    """The client's address, or 429 while it is braked for failed ``what`` (logins, keys)."""
    ctx = context(request)
    assert ctx.limiter is not None
    client = client_address(request, ctx.settings().http.trusted_proxies)
    wait = ctx.limiter.retry_after(client)
    if wait > 0:
        raise ApiError(
            429, "too_many_failures", f"too many failed {what}: retry in {wait:.0f}s", f"{wait:.0f}"
        )
    return client


def _authorize(request: web.Request, role: str | None) -> Principal:
    ctx = context(request)
    assert ctx.limiter is not None
    client = unbraked_client(request, "logins")
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "unauthorized", "send Authorization: Bearer <token>")
    tokens = ctx.settings().http.admin_tokens
    found = authenticate(tokens, token.strip())
    if found is None:
        ctx.limiter.failed(client)
        hint = "" if tokens else " (no tokens are configured: set http.admin_tokens)"
        raise ApiError(401, "unauthorized", "unknown token" + hint)
    ctx.limiter.succeeded(client)
    if role is not None and not found.can(role):
        raise ApiError(403, "forbidden", f"{found.name} is {found.role}: this needs {role}")
    return found


def tenant_of(request: web.Request, name: str = "tenant") -> str:
    """A tenant named in the path, or 404 listing the known ones."""
    tenant = request.match_info[name]
    known = [t.name for t in context(request).settings().tenants]
    if tenant not in known:
        raise ApiError(404, "unknown_tenant", f"no tenant {tenant!r} (known: {', '.join(known)})")
    return tenant


# -- audit ---------------------------------------------------------------------


async def audit(request: web.Request, action: str, target: str, before: Any, after: Any) -> None:
    """Record a change made through this request."""
    entry = audit_log.entry(principal(request).name, action, target, before, after)
    await context(request).store.record_audit(entry)


@dataclass(frozen=True)
class Page:
    """A page of items and the cursor that fetches the next (None: no more)."""

    items: list[Any] = field(default_factory=list)
    next_cursor: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"items": self.items, "next_cursor": self.next_cursor}
