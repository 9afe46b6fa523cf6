"""Admin API: kill switches, configuration reload and the audit log.

Switches go through policy.quota.operations, as `sluice switch` does; every
process sees a change within `policy.refresh` seconds.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from admin.api import (
    ApiError,
    Page,
    audit,
    context,
    field_of,
    json_body,
    no_other_fields,
    principal,
    query_int,
    query_param,
    route,
)
from admin.ip_json import ERROR_REF
from conf import Settings
from policy.quota import operations
from policy.switches import GLOBAL, Switch, SwitchError

# The CLI's names (`sluice switch on dry-run`) to the store's.
KINDS = {"pause": "pause", "dry-run": "dry_run"}
MAX_REASON = 500

SWITCH_SCHEMA = {
    "type": "object",
    "required": ["kind", "tenant", "reason", "actor", "at", "description"],
    "properties": {
        "kind": {"type": "string", "enum": list(KINDS)},
        "tenant": {"type": "string", "nullable": True, "description": "null: every tenant."},
        "reason": {"type": "string"},
        "actor": {"type": "string"},
        "at": {"type": "number", "description": "Unix time it was turned on."},
        "description": {"type": "string"},
    },
}


def switch_json(s: Switch) -> dict[str, Any]:
    return {
        "kind": s.kind.replace("_", "-"),
        "tenant": None if s.target == GLOBAL else s.target,
        "reason": s.reason,
        "actor": s.actor,
        "at": s.at,
        "description": s.describe(),
    }


async def list_switches(request: web.Request) -> web.Response:
    switches = await context(request).store.switches()
    return web.json_response({"switches": [switch_json(s) for s in switches]})


def _kind_of(request: web.Request) -> str:
    kind = request.match_info["kind"]
    if kind not in KINDS:
        raise ApiError(
            404, "unknown_switch", f"no switch {kind!r} (known: {', '.join(KINDS)})", "kind"
        )
    return KINDS[kind]


def _reason_check(value: str) -> str | None:
    return None if len(value) <= MAX_REASON else f"must be at most {MAX_REASON} characters"


async def switch_on(request: web.Request) -> web.Response:
    return await _flip(request, on=True)


async def switch_off(request: web.Request) -> web.Response:
    return await _flip(request, on=False)


async def _flip(request: web.Request, *, on: bool) -> web.Response:
    kind = _kind_of(request)
    body = await json_body(request) if request.body_exists else {}
    no_other_fields(body, ["tenant", "reason"])
    ctx = context(request)
    settings = ctx.settings()
    known = [t.name for t in settings.tenants]
    tenant = field_of(
        body,
        "tenant",
        str,
        None,
        check=lambda v: None if v in known else f"is not a tenant (known: {', '.join(known)})",
    )
    reason = field_of(body, "reason", str, "", check=_reason_check)
    target = operations.switch_target(settings, tenant)
    before = next((s for s in await ctx.store.switches() if s.key == (kind, target)), None)
    try:
        if on:
            after: Switch | None = await operations.set_switch(
                settings, ctx.store, kind, tenant, actor=principal(request).name, reason=reason
            )
        else:
            await operations.clear_switch(settings, ctx.store, kind, tenant)
            after = None
    except SwitchError as exc:
        raise ApiError(422, "invalid_field", str(exc), "tenant") from None
    previous = switch_json(before) if before else None
    current = switch_json(after) if after else None
    await audit(
        request,
        f"switch.{'on' if on else 'off'}",
        f"{kind.replace('_', '-')}:{tenant or '*'}",
        previous,
        current if on else {"on": False, "reason": reason},
    )
    return web.json_response(
        {
            "kind": kind.replace("_", "-"),
            "tenant": tenant,
            "on": on,
            "switch": current,
            "previous": previous,
        }
    )


FLIP_BODY = {
    "type": "object",
    "additionalProperties": False,
    "description": "May be left out: then every tenant, with no reason.",
    "properties": {
        # null is taken for absent (api.field_of).
        "tenant": {
            "type": "string",
            "nullable": True,
            "description": "One tenant; absent or null: every tenant.",
        },
        "reason": {"type": "string", "maxLength": MAX_REASON, "nullable": True},
    },
}

FLIP_SCHEMA = {
    "type": "object",
    "required": ["kind", "tenant", "on", "switch", "previous"],
    "properties": {
        "kind": {"type": "string", "enum": list(KINDS)},
        "tenant": {"type": "string", "nullable": True},
        "on": {"type": "boolean"},
        "switch": {**SWITCH_SCHEMA, "nullable": True, "description": "null once off."},
        "previous": {**SWITCH_SCHEMA, "nullable": True, "description": "null: it was off."},
    },
}


# -- configuration ---------------------------------------------------------------


def _outline(settings: Settings) -> dict[str, Any]:
    """What a reload most often changes, for the audit log: tenants and the pools' IPs."""
    return {
        "tenants": [t.name for t in settings.tenants],
        "pools": {name: [ip.ip for ip in ips] for name, ips in settings.pools.items()},
    }


async def reload_config(request: web.Request) -> web.Response:
    ctx = context(request)
    if ctx.reload is None:
        raise ApiError(503, "reload_unavailable", "this process cannot reload its configuration")
    before = _outline(ctx.settings())
    refused = await ctx.reload()
    if refused is not None:
        await audit(request, "config.reload", "config", before, {"rejected": refused})
        raise ApiError(422, "config_rejected", refused)
    await audit(request, "config.reload", "config", before, _outline(ctx.settings()))
    return web.json_response({"status": "reloaded"})


# -- audit log ---------------------------------------------------------------------


async def audit_log(request: web.Request) -> web.Response:
    limit = query_int(request, "limit", 50, 1, 500)
    cursor = query_int(request, "cursor", 0, 0, 2**62)
    actor = request.query.get("actor", "")
    action = request.query.get("action", "")
    # One more than asked says whether a next page exists.
    entries = await context(request).store.audit_entries(limit + 1, cursor, actor, action)
    page = entries[:limit]
    more = len(entries) > limit
    return web.json_response(
        Page([e.as_dict() for e in page], str(page[-1].id) if more else None).as_dict()
    )


AUDIT_SCHEMA = {
    "type": "object",
    "required": ["items", "next_cursor"],
    "properties": {
        "items": {
            "type": "array",
            "description": "Newest first.",
            "items": {
                "type": "object",
                "properties": {
                    "id": {"type": "integer"},
                    "actor": {"type": "string"},
                    "action": {"type": "string"},
                    "target": {"type": "string"},
                    "before": {"description": "The state the change found (any JSON)."},
                    "after": {"description": "The state it left (any JSON)."},
                    "at": {"type": "number", "description": "Unix time."},
                },
            },
        },
        "next_cursor": {
            "type": "string",
            "nullable": True,
            "description": "Pass as cursor for the next (older) page; null: no more.",
        },
    },
}


def add_routes(app: web.Application) -> None:
    route(
        app,
        "GET",
        "/api/switches",
        list_switches,
        role="viewer",
        summary="The kill switches that are on",
        tag="switches",
        responses={
            200: {
                "type": "object",
                "required": ["switches"],
                "properties": {"switches": {"type": "array", "items": SWITCH_SCHEMA}},
            }
        },
    )
    for state, handler in (("on", switch_on), ("off", switch_off)):
        route(
            app,
            "POST",
            f"/api/switches/{{kind}}/{state}",
            handler,
            role="operator",
            summary=f"Turn a kill switch (pause or dry-run) {state}, for one tenant or all",
            tag="switches",
            body=FLIP_BODY,
            body_required=False,
            responses={200: FLIP_SCHEMA},
        )
    route(
        app,
        "POST",
        "/api/config/reload",
        reload_config,
        role="admin",
        summary="Load the configuration file again, as SIGHUP does (422 config_rejected:"
        " the running one stays)",
        tag="configuration",
        responses={
            200: {
                "type": "object",
                "required": ["status"],
                "properties": {"status": {"type": "string", "enum": ["reloaded"]}},
            },
            422: ERROR_REF,
            503: ERROR_REF,
        },
    )
    route(
        app,
        "GET",
        "/api/audit",
        audit_log,
        role="admin",
        summary="The audit log of changes made through the API, newest first",
        tag="audit",
        query=[
            query_param("cursor", "string", "next_cursor of the previous page"),
            query_param("limit", "integer", "at most this many (1-500)", default=50),
            query_param("actor", "string", "only this token's changes"),
            query_param("action", "string", "only this action, e.g. ip.pause"),
        ],
        responses={200: AUDIT_SCHEMA},
    )
