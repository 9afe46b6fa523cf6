"""Admin API: a pool's IP rotation (scheduler/rotation.py): its next date, skip, trigger."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import Field

from admin.api import ApiError, audit, context
from admin.api_models import Error, Out
from admin.openapi import route
from policy.quota.ipstate import initial
from policy.quota.states import IpState
from scheduler import rotation

TAG = "ips"


class RotationIp(Out):
    ip: str
    state: str
    rotated: bool = Field(description="taken out of service by the rotation (re-warm schedule)")


class RotationOut(Out):
    pool: str
    every_days: int
    retire_hours: float
    rest_days: int
    rewarm_schedule: str
    min_warm_share: float
    next_at: float | None = Field(description="when the next retirement is due (None: not yet)")
    note: str = Field(description="what the last round decided, or why it waits")
    ips: list[RotationIp]


def _pool(request: web.Request) -> str:
    pool = request.match_info["pool"]
    if pool not in context(request).settings().warmup.rotation:
        raise ApiError(404, "not_found", f"pool {pool!r} has no rotation", "pool")
    return pool


async def _view(request: web.Request, pool: str) -> dict[str, Any]:
    ctx = context(request)
    s = ctx.settings()
    cfg = s.warmup.rotation[pool]
    saved = await ctx.store.rotation(pool)
    states = await ctx.store.ip_states()
    today = ctx.clock().date()
    ips = []
    for ip in s.pools.get(pool, ()):
        record = states.get(ip.ip) or initial(ip, today)
        ips.append({
            "ip": ip.ip,
            "state": record.state.value if record is not None else "not started",
            "rotated": record is not None and bool(record.schedule)
            and record.state is not IpState.WARM,
        })  # fmt: skip
    return {
        "pool": pool, **cfg.model_dump(),
        "next_at": saved.next_at if saved is not None else None,
        "note": saved.note if saved is not None else "", "ips": ips,
    }  # fmt: skip


async def show(request: web.Request) -> dict[str, Any]:
    return await _view(request, _pool(request))


async def act(request: web.Request) -> dict[str, Any]:
    pool, move = _pool(request), request.match_info["move"]
    ctx = context(request)
    before = await ctx.store.rotation(pool)
    after = await rotation.act(ctx.settings(), ctx.store, pool, move, ctx.clock())
    await audit(
        request, f"rotation.{move}", pool,
        {"next_at": before.next_at} if before is not None else None,
        {"next_at": after.next_at, "note": after.note},
    )  # fmt: skip
    return await _view(request, pool)


def add_routes(app: web.Application) -> None:
    route(
        app, "GET", "/api/pools/{pool}/rotation", show, role="viewer",
        summary="A pool's IP rotation: its settings, next retirement and each IP's part",
        tag=TAG, responses={200: RotationOut, 404: Error},
    )  # fmt: skip
    route(
        app, "POST", "/api/pools/{pool}/rotation/{move:skip|trigger}", act, role="operator",
        summary="Skip the next retirement (one period later) or trigger it now",
        tag=TAG, responses={200: RotationOut, 404: Error},
    )  # fmt: skip
