"""Admin API: pools and IPs (state, warmup day, today's use, rates) and IP actions.

A thin face of policy.quota.operations, as the `sluice ip` and `sluice quotas`
commands are: the API reads and changes exactly what they do.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from aiohttp import web
from pydantic import Field, model_validator

from admin import ip_json
from admin.api import AdminContext, ApiError, audit, context, principal
from admin.api_models import Body, Error, Out, Query, problem
from admin.openapi import route
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


Usage = Literal["counters", "events"]
USAGE_FIELD = Field(
    description="counters: live, reservations in flight included; events: what was relayed."
)


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


async def list_pools(request: web.Request) -> dict[str, Any]:
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
    return {"pools": pools, "usage_source": usage_source(ctx), "as_of": now.isoformat()}


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


async def get_ip(request: web.Request) -> dict[str, Any]:
    ip, pool = ip_of(request)
    ctx = context(request)
    return await ip_view(ctx, ip, pool, ctx.clock())


class TransitionOut(Out):
    ip: str
    from_state: str
    to_state: str
    from_day: int = Field(description="Warmup day before; 0: not warming.")
    to_day: int
    reason: str
    actor: str
    at: float = Field(description="Unix time.")


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


class HistoryQuery(Query):
    limit: int = Field(50, ge=1, le=500, description="at most this many (1-500)")


class History(Out):
    ip: str
    items: list[TransitionOut]


async def ip_history(request: web.Request, query: HistoryQuery) -> dict[str, Any]:
    ip, _ = ip_of(request)
    history = await context(request).store.ip_history(ip, query.limit)
    return {"ip": ip, "items": [transition_json(t) for t in history]}


class IpAction(Body):
    action: Literal[IP_ACTIONS]  # type: ignore[valid-type]
    day: int | None = Field(None, ge=1, description="The warmup day, for set-day.")
    reason: str | None = Field("", max_length=MAX_REASON)

    @model_validator(mode="after")
    def _day_with_set_day(self) -> IpAction:
        if self.action == "set-day" and self.day is None:
            raise problem("day", "day is required for set-day", "missing_field")
        if self.action != "set-day" and self.day is not None:
            raise problem("day", "day only goes with the set-day action")
        return self


async def ip_act(request: web.Request, body: IpAction) -> dict[str, Any]:
    ip, pool = ip_of(request)
    action, day, reason = body.action, body.day, body.reason or ""
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
    return {"transition": transition_json(change), "ip": await ip_view(ctx, ip, pool, now)}


class IpDetail(ip_json.IpWithRates):
    tenants: list[str]
    timezone: str
    usage_source: Usage = USAGE_FIELD


class IpChanged(Out):
    transition: TransitionOut
    ip: IpDetail


class Pool(Out):
    name: str
    timezone: str
    tenants: list[str]
    ips: list[ip_json.IpWithRates]


class Pools(Out):
    pools: list[Pool]
    usage_source: Usage = USAGE_FIELD
    as_of: ip_json.IsoTime


def add_routes(app: web.Application) -> None:
    route(
        app,
        "GET",
        "/api/pools",
        list_pools,
        role="viewer",
        summary="Every pool with its tenants and IPs: state, warmup day, today's use, rates",
        tag=TAG,
        responses={200: Pools, 503: Error},
    )
    route(
        app,
        "GET",
        "/api/ips/{ip}",
        get_ip,
        role="viewer",
        summary="One IP: state, warmup day, today's use, rates",
        tag=TAG,
        responses={200: IpDetail, 503: Error},
    )
    route(
        app,
        "GET",
        "/api/ips/{ip}/history",
        ip_history,
        role="viewer",
        summary="The IP's state transitions, newest first",
        tag=TAG,
        query=HistoryQuery,
        responses={200: History},
    )
    route(
        app,
        "POST",
        "/api/ips/{ip}/actions",
        ip_act,
        role="operator",
        summary="Pause, resume, quarantine, clear, rest, restart an IP or set its warmup day",
        tag=TAG,
        body=IpAction,
        responses={200: IpChanged, 409: Error, 503: Error},
    )
