"""The admin API's frame: context, routes with their OpenAPI, authentication, errors.

A route is declared once with ``route()``: the handler, the role it needs
and its OpenAPI operation go in together, so the description served at
``/api/openapi.json`` cannot miss a route. Every error is JSON:
``{"error": {"code": ..., "message": ..., "field": ...}}``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

from aiohttp import web

from admin.auth import FailureLimiter, Principal, Sessions, authenticate
from conf import Settings
from policy import audit as audit_log
from policy.quota.operations import Usage
from policy.store import Store
from policy.view import PolicyView

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

    def __post_init__(self) -> None:
        http = self.settings().http
        if self.limiter is None:
            self.limiter = FailureLimiter(http.auth_failure_limit, http.auth_lockout)
        if self.sessions is None:
            self.sessions = Sessions(http.session_ttl)


CONTEXT = web.AppKey("admin_context", AdminContext)
SPEC = web.AppKey("openapi_paths", dict)
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


# -- routes and their description ---------------------------------------------

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "field": {"type": "string"},
            },
        }
    },
}


def route(
    app: web.Application,
    method: str,
    path: str,
    handler: Handler,
    *,
    role: str | None,
    summary: str,
    tag: str,
    responses: dict[int, dict] | None = None,
    body: dict | None = None,
    query: Sequence[dict] = (),
    content_type: str = "application/json",
    body_required: bool = True,
) -> None:
    """Add a route and its OpenAPI operation.

    ``responses`` maps status to a JSON schema (or ``{"content": ...}`` for
    non-JSON answers); ``body`` is the request body's JSON schema; ``query``
    holds OpenAPI parameter objects (``body_required`` False: the body may be
    left out). ``role`` None: the route authenticates itself (or needs nothing).
    """
    app.router.add_route(method, path, handler)
    app.setdefault(SPEC, {})
    app.setdefault(ROLE_OF, {})
    app.setdefault(OPEN_PATHS, set())
    if role is None:
        app[OPEN_PATHS].add((method, path))
    else:
        app[ROLE_OF][(method, path)] = role
    params = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in _path_names(path)
    ]
    operation: dict[str, Any] = {
        "summary": summary,
        "tags": [tag],
        "operationId": f"{method.lower()}_{path.strip('/').replace('/', '_')}".replace(
            "{", ""
        ).replace("}", ""),
        "parameters": params + list(query),
        "responses": {},
    }
    if role is not None:
        operation["security"] = [{"bearer": []}]
        operation["description"] = f"Needs the {role} role."
    for status, schema in (responses or {200: {"type": "object"}}).items():
        content = schema.get("content") or {"application/json": {"schema": schema}}
        operation["responses"][str(status)] = {"description": _reason(status), "content": content}
    # A body past the listener's client_max_size is refused with 413 before the handler.
    errors = [400, 404, 413, 422] if body is not None else [400, 404]
    if role is not None:
        errors += [401, 403, 429]
    for status in errors:
        operation["responses"].setdefault(
            str(status),
            {
                "description": _reason(status),
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            },
        )
    if body is not None:
        operation["requestBody"] = {
            "required": body_required,
            "content": {content_type: {"schema": body}},
        }
    app[SPEC].setdefault(path, {})[method.lower()] = operation


def _path_names(path: str) -> list[str]:
    return [part[1:-1].split(":")[0] for part in path.split("/") if part.startswith("{")]


def _reason(status: int) -> str:
    return HTTPStatus(status).phrase


def openapi(app: web.Application) -> dict:
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Sluice admin API",
            "version": "1",
            "description": "Warmup, quotas, suppression, kill switches and events of a Sluice"
            " gateway. Bearer tokens are declared in http.admin_tokens.",
        },
        "paths": app.get(SPEC, {}),
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {"Error": ERROR_SCHEMA},
        },
    }


async def openapi_json(request: web.Request) -> web.Response:
    return web.json_response(openapi(request.app))


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


def _authorize(request: web.Request, role: str | None) -> Principal:
    ctx = context(request)
    assert ctx.limiter is not None
    client = request.remote or "?"
    wait = ctx.limiter.retry_after(client)
    if wait > 0:
        raise ApiError(
            429, "too_many_failures", f"too many failed logins: retry in {wait:.0f}s", f"{wait:.0f}"
        )
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


# -- request reading -----------------------------------------------------------


async def json_body(request: web.Request) -> dict[str, Any]:
    """The request's JSON object, or 400 naming what is wrong with it."""
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ApiError(400, "invalid_json", f"the body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_json", "the body must be a JSON object")
    return body


_MISSING = object()


def field_of(
    body: dict[str, Any],
    name: str,
    kind: type | tuple[type, ...],
    default: Any = _MISSING,
    check: Callable[[Any], str | None] | None = None,
) -> Any:
    """One field of a JSON body, checked; 422 naming the field otherwise."""
    if name not in body or body[name] is None:
        if default is _MISSING:
            raise ApiError(422, "missing_field", f"{name} is required", name)
        return default
    value = body[name]
    # JSON has no int/bool distinction Python would respect: True is not a number here.
    if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
        raise ApiError(422, "invalid_field", f"{name} must be {_kind(kind)}", name)
    if not isinstance(value, kind):
        raise ApiError(422, "invalid_field", f"{name} must be {_kind(kind)}", name)
    if check is not None and (problem := check(value)):
        raise ApiError(422, "invalid_field", f"{name} {problem}", name)
    return value


def no_other_fields(body: dict[str, Any], known: Sequence[str]) -> None:
    for name in body:
        if name not in known:
            raise ApiError(
                422, "unknown_field", f"unknown field {name!r} (known: {', '.join(known)})", name
            )


def _kind(kind: type | tuple[type, ...]) -> str:
    names = {str: "a string", int: "an integer", float: "a number", bool: "a boolean"}
    names |= {list: "a list", dict: "an object"}
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def query_int(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, "invalid_parameter", f"{name} must be an integer", name) from None
    if not low <= value <= high:
        raise ApiError(400, "invalid_parameter", f"{name} must be {low}-{high}", name)
    return value


def query_float(request: web.Request, name: str) -> float | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    try:
        return float(raw)
    except ValueError:
        try:
            return datetime.fromisoformat(raw).timestamp()
        except ValueError:
            raise ApiError(
                400,
                "invalid_parameter",
                f"{name} must be a Unix time or an ISO 8601 time",
                name,
            ) from None


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


def query_param(name: str, kind: str = "string", description: str = "", **schema: Any) -> dict:
    """An OpenAPI query parameter object."""
    # The readers (query_int, query_float, listing.text) take an empty value for an absent one.
    param: dict[str, Any] = {"name": name, "in": "query", "required": False}
    param["allowEmptyValue"] = True
    param["schema"] = {"type": kind, **schema}
    if description:
        param["description"] = description
    return param


@dataclass(frozen=True)
class Page:
    """A page of items and the cursor that fetches the next (None: no more)."""

    items: list[Any] = field(default_factory=list)
    next_cursor: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"items": self.items, "next_cursor": self.next_cursor}
