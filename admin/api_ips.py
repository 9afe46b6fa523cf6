"""Admin API: pools and IPs (state, warmup day, today's use, rates) and IP actions.

A thin face of policy.quota.operations, as the `sluice ip` and `sluice quotas`
commands are: the API reads and changes exactly what they do.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web

from admin import ip_json
from admin.api import (
    AdminContext,
    ApiError,
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
from conf import Settings
from policy.counters import CounterUnavailable
from policy.quota import calendar, operations
from policy.quota.ipstate import IpStateError
from policy.quota.operations import IP_ACTIONS, IpQuota
from policy.quota.states import Transition, TransitionError

TAG = "pools and IPs"
MAX_REASON = 500


# -- shared by the quota routes -------------------------------------------------


async def quota_rows(
    ctx: AdminContext, now: datetime, *, tenant: str | None = None, pool: str | None = None
) -> list[IpQuota]:
    """operations.quotas on the live counters; 503 when they do not answer."""
    try:
        return await operations.quotas(
            ctx.settings(), ctx.store, now, counters=ctx.counters, tenant=tenant, pool=pool
        )
    except CounterUnavailable as exc:
        raise ApiError(503, "counters_unavailable", f"quota counters unavailable: {exc}") from None


def usage_source(ctx: AdminContext) -> str:
    return "counters" if ctx.counters is not None else "events"


USAGE_SCHEMA = {
    "type": "string",
    "enum": ["counters", "events"],
    "description": "counters: live, reservations in flight included; events: what was relayed.",
}


def ip_of(request: web.Request) -> tuple[str, str]:
    """The IP named in the path and its pool, or 404."""
    ip = request.match_info["ip"]
    try:
        pool, _ = operations.find_ip(context(request).settings(), ip)
    except IpStateError as exc:
        raise ApiError(404, "unknown_ip", str(exc)) from None
    return ip, pool


def pool_tenants(settings: Settings, pool: str) -> list[str]:
    return [t.name for t in settings.tenants if t.pool == pool]


# -- pools and IPs -------------------------------------------------------------------


async def list_pools(request: web.Request) -> web.Response:
    ctx = context(request)
    settings, now = ctx.settings(), ctx.clock()
    rows = await quota_rows(ctx, now)
    windows, findings = await operations.ip_health(settings, ctx.store, now)
    active = await ctx.store.measures(now.timestamp())
    pools = []
    for pool in settings.pools:
        ips = [
            ip_json.ip_quota(r) | {"rates": ip_json.rates(r.ip, windows, findings, active)}
            for r in rows
            if r.pool == pool
        ]
        pools.append(
            {
                "name": pool,
                "timezone": calendar.pool_zone(settings, pool),
                "tenants": pool_tenants(settings, pool),
                "ips": ips,
            }
        )
    return web.json_response(
        {"pools": pools, "usage_source": usage_source(ctx), "as_of": now.isoformat()}
    )


async def ip_view(ctx: AdminContext, ip: str, pool: str, now: datetime) -> dict[str, Any]:
    settings = ctx.settings()
    [row] = [r for r in await quota_rows(ctx, now, pool=pool) if r.ip == ip]
    windows, findings = await operations.ip_health(settings, ctx.store, now)
    active = await ctx.store.measures(now.timestamp())
    return ip_json.ip_quota(row) | {
        "rates": ip_json.rates(ip, windows, findings, active),
        "tenants": pool_tenants(settings, pool),
        "timezone": calendar.pool_zone(settings, pool),
        "usage_source": usage_source(ctx),
    }


async def get_ip(request: web.Request) -> web.Response:
    ip, pool = ip_of(request)
    ctx = context(request)
    return web.json_response(await ip_view(ctx, ip, pool, ctx.clock()))


TRANSITION_SCHEMA = {
    "type": "object",
    "required": ["ip", "from_state", "to_state", "from_day", "to_day", "reason", "actor", "at"],
    "properties": {
        "ip": {"type": "string"},
        "from_state": {"type": "string"},
        "to_state": {"type": "string"},
        "from_day": {"type": "integer", "description": "Warmup day before; 0: not warming."},
        "to_day": {"type": "integer"},
        "reason": {"type": "string"},
        "actor": {"type": "string"},
        "at": {"type": "number", "description": "Unix time."},
    },
}


def transition_json(t: Transition) -> dict[str, Any]:
    return {
        "ip": t.ip,
        "from_state": t.from_state.value,
        "to_state": t.to_state.value,
        "from_day": t.from_day,
        "to_day": t.to_day,
        "reason": t.reason,
        "actor": t.actor,
        "at": t.at.timestamp(),
    }


async def ip_history(request: web.Request) -> web.Response:
    ip, _ = ip_of(request)
    limit = query_int(request, "limit", 50, 1, 500)
    history = await context(request).store.ip_history(ip, limit)
    return web.json_response({"ip": ip, "items": [transition_json(t) for t in history]})


def _reason_check(value: str) -> str | None:
    return None if len(value) <= MAX_REASON else f"must be at most {MAX_REASON} characters"


async def ip_act(request: web.Request) -> web.Response:
    ip, pool = ip_of(request)
    body = await json_body(request)
    no_other_fields(body, ["action", "day", "reason"])
    action = field_of(
        body,
        "action",
        str,
        check=lambda v: None if v in IP_ACTIONS else f"must be one of {', '.join(IP_ACTIONS)}",
    )
    day = field_of(body, "day", int, None, check=lambda v: None if v >= 1 else "must be 1 or more")
    if action == "set-day" and day is None:
        raise ApiError(422, "missing_field", "day is required for set-day", "day")
    if action != "set-day" and day is not None:
        raise ApiError(422, "invalid_field", "day only goes with the set-day action", "day")
    reason = field_of(body, "reason", str, "", check=_reason_check)
    ctx = context(request)
    now = ctx.clock()
    try:
        change = await operations.ip_action(
            ctx.settings(),
            ctx.store,
            ip,
            action,
            actor=principal(request).name,
            now=now,
            detail=reason,
            day=day,
        )
    except (IpStateError, TransitionError) as exc:
        raise ApiError(409, "invalid_transition", str(exc)) from None
    await audit(
        request,
        f"ip.{action}",
        ip,
        {"state": change.from_state.value, "day": change.from_day},
        {"state": change.to_state.value, "day": change.to_day, "reason": change.reason},
    )
    return web.json_response(
        {"transition": transition_json(change), "ip": await ip_view(ctx, ip, pool, now)}
    )


ACTION_BODY = {
    "type": "object",
    "required": ["action"],
    "additionalProperties": False,
    "properties": {
        "action": {"type": "string", "enum": list(IP_ACTIONS)},
        # null is taken for absent (api.field_of), in every optional field.
        "day": {
            "type": "integer",
            "minimum": 1,
            "nullable": True,
            "description": "The warmup day, for set-day.",
        },
        "reason": {"type": "string", "maxLength": MAX_REASON, "nullable": True},
    },
}

IP_DETAIL_SCHEMA = {
    **ip_json.IP_WITH_RATES_SCHEMA,
    "properties": {
        **ip_json.IP_WITH_RATES_SCHEMA["properties"],
        "tenants": {"type": "array", "items": {"type": "string"}},
        "timezone": {"type": "string"},
        "usage_source": USAGE_SCHEMA,
    },
}

POOLS_SCHEMA = {
    "type": "object",
    "required": ["pools", "usage_source", "as_of"],
    "properties": {
        "pools": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "timezone", "tenants", "ips"],
                "properties": {
                    "name": {"type": "string"},
                    "timezone": {"type": "string"},
                    "tenants": {"type": "array", "items": {"type": "string"}},
                    "ips": {"type": "array", "items": ip_json.IP_WITH_RATES_SCHEMA},
                },
            },
        },
        "usage_source": USAGE_SCHEMA,
        "as_of": ip_json.TIME,
    },
}


def add_routes(app: web.Application) -> None:
    route(
        app,
        "GET",
        "/api/pools",
        list_pools,
        role="viewer",
        summary="Every pool with its tenants and IPs: state, warmup day, today's use, rates",
        tag=TAG,
        responses={200: POOLS_SCHEMA, 503: ip_json.ERROR_REF},
    )
    route(
        app,
        "GET",
        "/api/ips/{ip}",
        get_ip,
        role="viewer",
        summary="One IP: state, warmup day, today's use, rates",
        tag=TAG,
        responses={200: IP_DETAIL_SCHEMA, 503: ip_json.ERROR_REF},
    )
    route(
        app,
        "GET",
        "/api/ips/{ip}/history",
        ip_history,
        role="viewer",
        summary="The IP's state transitions, newest first",
        tag=TAG,
        query=[query_param("limit", "integer", "at most this many (1-500)", default=50)],
        responses={
            200: {
                "type": "object",
                "required": ["ip", "items"],
                "properties": {
                    "ip": {"type": "string"},
                    "items": {"type": "array", "items": TRANSITION_SCHEMA},
                },
            }
        },
    )
    route(
        app,
        "POST",
        "/api/ips/{ip}/actions",
        ip_act,
        role="operator",
        summary="Pause, resume, quarantine, clear, rest, restart an IP or set its warmup day",
        tag=TAG,
        body=ACTION_BODY,
        responses={
            200: {
                "type": "object",
                "required": ["transition", "ip"],
                "properties": {"transition": TRANSITION_SCHEMA, "ip": IP_DETAIL_SCHEMA},
            },
            409: ip_json.ERROR_REF,
            503: ip_json.ERROR_REF,
        },
    )
