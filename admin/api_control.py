"""Admin API: kill switches, configuration reload and the audit log.

Switches go through policy.quota.operations, as `sluice switch` does; every
process sees a change within `policy.refresh` seconds.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import Field

from admin.api import ApiError, Page, audit, context, principal
from admin.api_models import Blank, Body, Error, Out, Query, Text
from admin.openapi import route
from conf import Settings
from policy.quota import operations
from policy.switches import GLOBAL, Switch, SwitchError

# The CLI's names (`sluice switch on dry-run`) to the store's.
KINDS = {"pause": "pause", "dry-run": "dry_run"}
MAX_REASON = 500

Kind = Literal["pause", "dry-run"]


class SwitchOut(Out):
    kind: Kind
    tenant: str | None = Field(description="null: every tenant.")
    reason: str
    actor: str
    at: float = Field(description="Unix time it was turned on.")
    description: str


class Switches(Out):
    switches: list[SwitchOut]


def switch_json(s: Switch) -> dict[str, Any]:
    return {
        "kind": s.kind.replace("_", "-"),
        "tenant": None if s.target == GLOBAL else s.target,
        "reason": s.reason,
        "actor": s.actor,
        "at": s.at,
        "description": s.describe(),
    }


async def list_switches(request: web.Request) -> dict[str, Any]:
    switches = await context(request).store.switches()
    return {"switches": [switch_json(s) for s in switches]}


def _kind_of(request: web.Request) -> str:
    kind = request.match_info["kind"]
    if kind not in KINDS:
        raise ApiError(
            404, "unknown_switch", f"no switch {kind!r} (known: {', '.join(KINDS)})", "kind"
        )
    return KINDS[kind]


class Flip(Body):
    """May be left out: then every tenant, with no reason."""

    tenant: str | None = Field(None, description="One tenant; absent or null: every tenant.")
    reason: str | None = Field("", max_length=MAX_REASON)


async def switch_on(request: web.Request, body: Flip) -> dict[str, Any]:
    return await _flip(request, body, on=True)


async def switch_off(request: web.Request, body: Flip) -> dict[str, Any]:
    return await _flip(request, body, on=False)


async def _flip(request: web.Request, body: Flip, *, on: bool) -> dict[str, Any]:
    kind = _kind_of(request)
    ctx = context(request)
    settings = ctx.settings()
    known = [t.name for t in settings.tenants]
    tenant, reason = body.tenant, body.reason or ""
    if tenant is not None and tenant not in known:
        message = f"tenant is not a tenant (known: {', '.join(known)})"
        raise ApiError(422, "invalid_field", message, "tenant")
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
    return {
        "kind": kind.replace("_", "-"),
        "tenant": tenant,
        "on": on,
        "switch": current,
        "previous": previous,
    }


class Flipped(Out):
    kind: Kind
    tenant: str | None
    on: bool
    switch: SwitchOut | None = Field(description="null once off.")
    previous: SwitchOut | None = Field(description="null: it was off.")


# -- configuration ---------------------------------------------------------------


def _outline(settings: Settings) -> dict[str, Any]:
    """What a reload most often changes, for the audit log: tenants and the pools' IPs."""
    return {
        "tenants": [t.name for t in settings.tenants],
        "pools": {name: [ip.ip for ip in ips] for name, ips in settings.pools.items()},
    }


class Reloaded(Out):
    status: Literal["reloaded"]


async def reload_config(request: web.Request) -> Reloaded:
    ctx = context(request)
    if ctx.reload is None:
        raise ApiError(503, "reload_unavailable", "this process cannot reload its configuration")
    before = _outline(ctx.settings())
    refused = await ctx.reload()
    if refused is not None:
        await audit(request, "config.reload", "config", before, {"rejected": refused})
        raise ApiError(422, "config_rejected", refused)
    await audit(request, "config.reload", "config", before, _outline(ctx.settings()))
    return Reloaded(status="reloaded")


# -- audit log ---------------------------------------------------------------------


class AuditQuery(Query):
    cursor: Annotated[int, Blank] = Field(
        0, ge=0, le=2**62, description="next_cursor of the previous page"
    )
    limit: Annotated[int, Blank] = Field(50, ge=1, le=500, description="at most this many (1-500)")
    actor: Text = Field(None, description="only this token's changes")
    action: Text = Field(None, description="only this action, e.g. ip.pause")


async def audit_log(request: web.Request, query: AuditQuery) -> dict[str, Any]:
    limit = query.limit
    # One more than asked says whether a next page exists.
    entries = await context(request).store.audit_entries(
        limit + 1, query.cursor, query.actor or "", query.action or ""
    )
    page = entries[:limit]
    more = len(entries) > limit
    return Page([e.as_dict() for e in page], str(page[-1].id) if more else None).as_dict()


class AuditEntry(Out):
    id: int
    actor: str
    action: str
    target: str
    before: Any = Field(description="The state the change found (any JSON).")
    after: Any = Field(description="The state it left (any JSON).")
    at: float = Field(description="Unix time.")


class AuditPage(Out):
    items: list[AuditEntry] = Field(description="Newest first.")
    next_cursor: str | None = Field(
        description="Pass as cursor for the next (older) page; null: no more."
    )


def add_routes(app: web.Application) -> None:
    route(
        app,
        "GET",
        "/api/switches",
        list_switches,
        role="viewer",
        summary="The kill switches that are on",
        tag="switches",
        responses={200: Switches},
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
            body=Flip,
            body_required=False,
            responses={200: Flipped},
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
        responses={200: Reloaded, 422: Error, 503: Error},
    )
    route(
        app,
        "GET",
        "/api/audit",
        audit_log,
        role="admin",
        summary="The audit log of changes made through the API, newest first",
        tag="audit",
        query=AuditQuery,
        responses={200: AuditPage},
    )
