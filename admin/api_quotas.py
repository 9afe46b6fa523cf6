"""Admin API: a tenant's capacity today, whether a batch fits and where, one IP's quota.

The capacity is the pool's IPs in rotation added up; the check places a
batch as the gateway would (policy.quota.operations.send_plan), so "fits" here
means the gateway will take it today.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from admin import ip_json
from admin.api import (
    AdminContext,
    ApiError,
    context,
    field_of,
    json_body,
    no_other_fields,
    route,
    tenant_of,
)
from admin.api_ips import USAGE_SCHEMA, quota_rows, usage_source
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


OUT_SCHEMA = {
    "type": "array",
    "description": "The pool's IPs the gateway does not use now, and why.",
    "items": {
        "type": "object",
        "required": ["ip", "reason"],
        "properties": {"ip": {"type": "string"}, "reason": {"type": "string"}},
    },
}


async def tenant_quotas(request: web.Request) -> web.Response:
    tenant = tenant_of(request)
    ctx = context(request)

    async def answer() -> bytes:
        return json.dumps(await quotas_json(ctx, tenant)).encode()

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


QUOTAS_SCHEMA = {
    "type": "object",
    "required": ["tenant", "pool", "capacity", "used", "remaining", "ips"],
    "properties": {
        "tenant": {"type": "string"},
        "pool": {"type": "string"},
        "timezone": {"type": "string", "description": "The zone of the pool's quota days."},
        "date": {"type": "string", "format": "date", "description": "Today, in that zone."},
        "day_ends_at": {**ip_json.TIME, "description": "When the daily limits start again."},
        "capacity": {
            **ip_json.MAYBE_COUNT,
            "description": "Today's daily limits of the IPs in rotation, added up;"
            " null when one of them has no limit.",
        },
        "used": {**ip_json.COUNT, "description": "Used today on the IPs in rotation."},
        "remaining": {
            **ip_json.MAYBE_COUNT,
            "description": "What the daily limits leave today (null: no limit); the check"
            " also applies hourly pacing and provider groups.",
        },
        "in_rotation": {"type": "array", "items": {"type": "string"}},
        "out_of_rotation": OUT_SCHEMA,
        "ips": {"type": "array", "items": ip_json.IP_SCHEMA},
        "usage_source": USAGE_SCHEMA,
    },
}


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


def _emails_check(value: int) -> str | None:
    if 1 <= value <= MAX_EMAILS:
        return None
    return f"must be a positive integer (at most {MAX_EMAILS})"


def _group_check(value: str) -> str | None:
    return None if value in GROUPS else f"must be one of {', '.join(GROUPS)}"


async def check(request: web.Request) -> web.Response:
    tenant = tenant_of(request)
    body = await json_body(request)
    no_other_fields(body, ["emails_to_send", "provider_group"])
    emails = field_of(body, "emails_to_send", int, check=_emails_check)
    group = field_of(body, "provider_group", str, None, check=_group_check)
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
    return web.json_response(
        {
            "tenant": tenant,
            "emails_to_send": emails,
            "provider_group": group,
            **plan_json(plan),
            "usage_source": usage_source(ctx),
        }
    )


CHECK_BODY = {
    "type": "object",
    "required": ["emails_to_send"],
    "additionalProperties": False,
    "properties": {
        "emails_to_send": {"type": "integer", "minimum": 1, "maximum": MAX_EMAILS},
        "provider_group": {
            "type": "string",
            "enum": [*GROUPS, None],  # null is taken for absent (api.field_of)
            "nullable": True,
            "description": "Every recipient at this provider: its limits apply too.",
        },
    },
}

CHECK_SCHEMA = {
    "type": "object",
    "required": ["fits", "capacity", "shortfall", "allocation", "capacity_frees_at", "pacing"],
    "properties": {
        "tenant": {"type": "string"},
        "emails_to_send": ip_json.COUNT,
        "provider_group": {"type": "string", "nullable": True},
        "fits": {"type": "boolean", "description": "All of them can go today."},
        "capacity": {
            **ip_json.MAYBE_COUNT,
            "description": "What can still go today under the daily, provider and hourly"
            " limits (null: no limit).",
        },
        "placed": ip_json.COUNT,
        "shortfall": {**ip_json.COUNT, "description": "What does not fit today."},
        "allocation": {
            "type": "array",
            "description": "Per IP in rotation, in the order the gateway uses them:"
            " warming IPs first, then warm ones, most room first.",
            "items": {
                "type": "object",
                "required": ["ip", "vmta", "warming", "emails", "room_today", "this_hour"],
                "properties": {
                    "ip": {"type": "string"},
                    "vmta": {"type": "string"},
                    "warming": {"type": "boolean"},
                    "emails": ip_json.COUNT,
                    "room_today": ip_json.MAYBE_COUNT,
                    "this_hour": {
                        **ip_json.COUNT,
                        "description": "Of emails, before the hour ends.",
                    },
                    "done_by": {
                        **ip_json.TIME,
                        "nullable": True,
                        "description": "When hourly pacing lets its last one go; null: this hour.",
                    },
                },
            },
        },
        "out_of_rotation": OUT_SCHEMA,
        "capacity_frees_at": {**ip_json.TIME, "description": "The next local midnight."},
        "pacing": {
            "type": "object",
            "properties": {
                "binds": {"type": "boolean", "description": "Hourly limits spread the batch."},
                "this_hour": ip_json.COUNT,
                "next_hour_at": ip_json.TIME,
                "done_by": {**ip_json.TIME, "nullable": True},
            },
        },
        "usage_source": USAGE_SCHEMA,
    },
}


async def tenant_ip_quota(request: web.Request) -> web.Response:
    tenant = tenant_of(request)
    ip = request.match_info["ip"]
    ctx = context(request)
    settings, now = ctx.settings(), ctx.clock()
    pool = operations.tenant_pool(settings, tenant)
    if ip not in [p.ip for p in settings.pools[pool]]:
        raise ApiError(404, "unknown_ip", f"no IP {ip} in pool {pool!r} of tenant {tenant!r}")
    [row] = [r for r in await quota_rows(ctx, now, pool=pool) if r.ip == ip]
    return web.json_response(
        ip_json.ip_quota(row)
        | {
            "tenant": tenant,
            "day_ends_at": _day_ends(calendar.pool_zone(settings, pool), now).isoformat(),
            "usage_source": usage_source(ctx),
        }
    )


IP_QUOTA_SCHEMA = {
    **ip_json.IP_SCHEMA,
    "properties": {
        **ip_json.IP_SCHEMA["properties"],
        "tenant": {"type": "string"},
        "day_ends_at": ip_json.TIME,
        "usage_source": USAGE_SCHEMA,
    },
}


def add_routes(app: web.Application) -> None:
    app[SHARED] = SharedReads()
    unavailable = {503: ip_json.ERROR_REF}
    route(
        app,
        "GET",
        "/api/quotas/{tenant}",
        tenant_quotas,
        role="viewer",
        summary="The tenant's capacity and remaining today, per IP and in total",
        tag=TAG,
        responses={200: QUOTAS_SCHEMA, **unavailable},
    )
    route(
        app,
        "POST",
        "/api/quotas/{tenant}/check",
        check,
        role="viewer",
        summary="Whether a batch fits today, and on which IPs",
        tag=TAG,
        body=CHECK_BODY,
        responses={200: CHECK_SCHEMA, **unavailable},
    )
    route(
        app,
        "GET",
        "/api/quotas/{tenant}/ips/{ip}",
        tenant_ip_quota,
        role="viewer",
        summary="One IP of the tenant's pool: limits and use today",
        tag=TAG,
        responses={200: IP_QUOTA_SCHEMA, **unavailable},
    )
