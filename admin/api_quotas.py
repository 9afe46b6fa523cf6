"""Admin API: a tenant's capacity today, whether a batch fits and where, one IP's quota.

The capacity is the pool's IPs in rotation added up; the check places a
batch as the gateway would (policy.quota.operations.send_plan), so "fits" here
means the gateway will take it today.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from aiohttp import web
from pydantic import Field

from admin import ip_json
from admin.api import AdminContext, ApiError, context, tenant_of
from admin.api_ips import USAGE_FIELD, Usage, quota_rows, usage_source
from admin.api_models import Body, Error, Out, encode
from admin.ip_json import Count, IsoTime, MaybeCount
from admin.openapi import route
from admin.shared_reads import SharedReads
from policy.counters import CounterUnavailable
from policy.providers import GROUPS
from policy.quota import calendar, operations
from policy.quota.capacity import SendPlan, Share

TAG = "quotas"
SHARED = web.AppKey("quota_reads", SharedReads)
MAX_EMAILS = 1_000_000_000


def _day_ends(zone: str, now: datetime) -> datetime:
    local = now.astimezone(ZoneInfo(zone))
    _, end = calendar.day_bounds(zone, local.date())
    return datetime.fromtimestamp(end, local.tzinfo)


class OutOfRotation(Out):
    """One of the pool's IPs the gateway does not use now, and why."""

    ip: str
    reason: str


async def tenant_quotas(request: web.Request) -> web.Response:
    tenant = tenant_of(request)
    ctx = context(request)

    async def answer() -> bytes:
        return encode(Quotas.model_validate(await quotas_json(ctx, tenant)))

    # Pollers of one tenant share a computation (and its encoding) no older than they are.
    body = await request.app[SHARED].get(("quotas", tenant), answer)
    return web.Response(body=body, content_type="application/json")


async def quotas_json(ctx: AdminContext, tenant: str) -> dict[str, Any]:
    settings, now = ctx.settings(), ctx.clock()
    rows = await quota_rows(ctx, now, tenant=tenant)
    pool = operations.tenant_pool(settings, tenant)
    zone = calendar.pool_zone(settings, pool)
    day_ends = _day_ends(zone, now)
    totals = operations.totals(rows)
    return {
        "tenant": tenant,
        "pool": pool,
        "timezone": zone,
        "date": now.astimezone(day_ends.tzinfo).date().isoformat(),
        "day_ends_at": day_ends.isoformat(),
        "capacity": totals.capacity,
        "used": totals.used,
        "remaining": totals.remaining,
        "in_rotation": [r.ip for r in rows if r.in_rotation],
        "out_of_rotation": [
            {"ip": r.ip, "reason": r.out_of_rotation} for r in rows if not r.in_rotation
        ],
        "ips": [ip_json.ip_quota(r) for r in rows],
        "usage_source": usage_source(ctx),
    }


class Quotas(Out):
    tenant: str
    pool: str
    timezone: str = Field(description="The zone of the pool's quota days.")
    date: str = Field(description="Today, in that zone.", json_schema_extra={"format": "date"})
    day_ends_at: IsoTime = Field(description="When the daily limits start again.")
    capacity: MaybeCount = Field(
        description="Today's daily limits of the IPs in rotation, added up;"
        " null when one of them has no limit."
    )
    used: Count = Field(description="Used today on the IPs in rotation.")
    remaining: MaybeCount = Field(
        description="What the daily limits leave today (null: no limit); the check"
        " also applies hourly pacing and provider groups."
    )
    in_rotation: list[str]
    out_of_rotation: list[OutOfRotation]
    ips: list[ip_json.IpQuotaOut]
    usage_source: Usage = USAGE_FIELD


def _share(share: Share) -> dict[str, Any]:
    return {
        "ip": share.room.ip,
        "vmta": share.room.vmta,
        "warming": share.room.warming,
        "emails": share.emails,
        "room_today": share.room.today,
        "this_hour": share.this_hour,
        "done_by": ip_json.iso(share.done_by),
    }


def plan_json(plan: SendPlan) -> dict[str, Any]:
    return {
        "fits": plan.fits,
        "capacity": plan.capacity,
        "placed": plan.placed,
        "shortfall": plan.shortfall,
        "allocation": [_share(s) for s in plan.shares],
        "out_of_rotation": [{"ip": ip, "reason": why} for ip, why in plan.out_of_rotation],
        "capacity_frees_at": plan.day_ends_at.isoformat(),
        "pacing": {
            "binds": plan.paced,
            "this_hour": plan.this_hour,
            "next_hour_at": plan.next_hour_at.isoformat(),
            "done_by": ip_json.iso(plan.done_by),
        },
    }


class CheckIn(Body):
    emails_to_send: int = Field(ge=1, le=MAX_EMAILS)
    provider_group: Literal[GROUPS] | None = Field(  # type: ignore[valid-type]
        None, description="Every recipient at this provider: its limits apply too."
    )


async def check(request: web.Request, body: CheckIn) -> dict[str, Any]:
    tenant = tenant_of(request)
    emails, group = body.emails_to_send, body.provider_group
    ctx = context(request)
    try:
        plan = await operations.send_plan(
            ctx.settings(),
            ctx.store,
            ctx.clock(),
            tenant,
            emails,
            counters=ctx.counters,
            group=group,
        )
    except CounterUnavailable as exc:
        raise ApiError(503, "counters_unavailable", f"quota counters unavailable: {exc}") from None
    return {
        "tenant": tenant,
        "emails_to_send": emails,
        "provider_group": group,
        **plan_json(plan),
        "usage_source": usage_source(ctx),
    }


class ShareOut(Out):
    ip: str
    vmta: str
    warming: bool
    emails: Count
    room_today: MaybeCount
    this_hour: Count = Field(description="Of emails, before the hour ends.")
    done_by: IsoTime | None = Field(
        None, description="When hourly pacing lets its last one go; null: this hour."
    )


class Pacing(Out):
    binds: bool = Field(description="Hourly limits spread the batch.")
    this_hour: Count
    next_hour_at: IsoTime
    done_by: IsoTime | None = None


class Checked(Out):
    tenant: str
    emails_to_send: Count
    provider_group: str | None
    fits: bool = Field(description="All of them can go today.")
    capacity: MaybeCount = Field(
        description="What can still go today under the daily, provider and hourly"
        " limits (null: no limit)."
    )
    placed: Count
    shortfall: Count = Field(description="What does not fit today.")
    allocation: list[ShareOut] = Field(
        description="Per IP in rotation, in the order the gateway uses them:"
        " warming IPs first, then warm ones, most room first."
    )
    out_of_rotation: list[OutOfRotation]
    capacity_frees_at: IsoTime = Field(description="The next local midnight.")
    pacing: Pacing
    usage_source: Usage = USAGE_FIELD


async def tenant_ip_quota(request: web.Request) -> dict[str, Any]:
    tenant = tenant_of(request)
    ip = request.match_info["ip"]
    ctx = context(request)
    settings, now = ctx.settings(), ctx.clock()
    pool = operations.tenant_pool(settings, tenant)
    if ip not in [p.ip for p in settings.pools[pool]]:
        raise ApiError(404, "unknown_ip", f"no IP {ip} in pool {pool!r} of tenant {tenant!r}")
    [row] = [r for r in await quota_rows(ctx, now, pool=pool) if r.ip == ip]
    return ip_json.ip_quota(row) | {
        "tenant": tenant,
        "day_ends_at": _day_ends(calendar.pool_zone(settings, pool), now).isoformat(),
        "usage_source": usage_source(ctx),
    }


class IpQuotaToday(ip_json.IpQuotaOut):
    tenant: str
    day_ends_at: IsoTime
    usage_source: Usage = USAGE_FIELD


def add_routes(app: web.Application) -> None:
    app[SHARED] = SharedReads()
    route(
        app,
        "GET",
        "/api/quotas/{tenant}",
        tenant_quotas,
        role="viewer",
        summary="The tenant's capacity and remaining today, per IP and in total",
        tag=TAG,
        responses={200: Quotas, 503: Error},
    )
    route(
        app,
        "POST",
        "/api/quotas/{tenant}/check",
        check,
        role="viewer",
        summary="Whether a batch fits today, and on which IPs",
        tag=TAG,
        body=CheckIn,
        responses={200: Checked, 503: Error},
    )
    route(
        app,
        "GET",
        "/api/quotas/{tenant}/ips/{ip}",
        tenant_ip_quota,
        role="viewer",
        summary="One IP of the tenant's pool: limits and use today",
        tag=TAG,
        responses={200: IpQuotaToday, 503: Error},
    )
