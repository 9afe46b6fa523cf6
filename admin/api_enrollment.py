"""Admin API: a tenant's auto-enrollment (settings in force, counts; runtime changes).

``PUT`` stores the fields it names (null or absent: unchanged); they win over
the configuration's ``tenants[].enrollment`` from then on, each change is in
the audit log (``enrollment.settings``, with the settings before and after), and
the tenant's blocked prospects are decided again under the new settings.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import Field, ValidationError

from admin.api import ApiError, audit, context, principal, tenant_of
from admin.api_models import Body, Error, Out
from admin.openapi import route
from conf.schema.enrollment import TenantEnrollment
from policy.enrollment import settings as es
from scheduler import enrollment_state

TAG = "enrollment"
Names = list[str]


class SettingsOut(Out):
    enabled: bool
    max_per_hour: int
    max_per_day: int
    min_score: float | None
    max_tier: int | None
    categories: list[str]
    languages: list[str]
    require_verified: bool
    allow_role: bool
    dry_run: bool


class SettingsIn(Body):
    enabled: bool | None = None
    max_per_hour: int | None = Field(None, ge=0, le=1_000_000)
    max_per_day: int | None = Field(None, ge=0, le=10_000_000)
    min_score: float | None = Field(None, ge=0, le=100)
    max_tier: int | None = Field(None, ge=0, le=10)
    categories: list[str] | None = Field(None, max_length=100)
    languages: list[str] | None = Field(None, max_length=100)
    require_verified: bool | None = None
    allow_role: bool | None = None
    dry_run: bool | None = None


class EnrollmentOut(Out):
    tenant: str
    settings: SettingsOut
    runtime: list[str] = Field(description="fields changed through the API (they win)")
    dry_run: bool = Field(description="the settings' dry_run or a dry-run kill switch")
    holding: str = Field(description="why nobody is enrolled now; empty while it runs")
    enrolled_last_hour: int = Field(description="dry-run decisions while in dry run")
    enrolled_today: int = Field(description="in the tenant's time zone")
    prospects: dict[str, int] = Field(description="prospects by status")


def _tenant(request: web.Request) -> Any:
    name = tenant_of(request)
    return next(t for t in context(request).settings().tenants if t.name == name)


async def _answer(request: web.Request, tenant: Any) -> EnrollmentOut:
    ctx = context(request)
    st = await enrollment_state.state(ctx.store, ctx.settings(), tenant, ctx.clock().timestamp())
    return EnrollmentOut(
        tenant=tenant.name,
        settings=SettingsOut(**st.settings.model_dump()),
        runtime=list(st.runtime),
        dry_run=st.dry_run,
        holding=st.holding,
        enrolled_last_hour=st.last_hour,
        enrolled_today=st.today,
        prospects=st.counts,
    )


async def show(request: web.Request) -> EnrollmentOut:
    return await _answer(request, _tenant(request))


async def change(request: web.Request, body: SettingsIn) -> EnrollmentOut:
    tenant = _tenant(request)
    store, now = context(request).store, context(request).clock().timestamp()
    update = body.model_dump(exclude_none=True)
    before_cfg, _ = await enrollment_state.settings_of(store, tenant)
    stored = await store.enrollment_settings(tenant.name)
    text = es.changed(stored, update)
    try:
        after_cfg = es.effective(tenant.enrollment, text)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first["loc"]) or None
        raise ApiError(422, "invalid_field", first["msg"], where) from None
    await store.save_enrollment_settings(tenant.name, text, principal(request).name, now)
    await audit(request, "enrollment.settings", tenant.name, _plain(before_cfg), _plain(after_cfg))
    if update:
        await store.requeue_blocked(tenant.name, now)
    return await _answer(request, tenant)


def _plain(s: TenantEnrollment) -> dict[str, Any]:
    return s.model_dump(mode="json")


def add_routes(app: web.Application) -> None:
    path = "/api/enrollment/{tenant}"
    route(
        app, "GET", path, show, role="viewer", tag=TAG,
        summary="Auto-enrollment: settings in force, enrolled in the last hour and today",
        responses={200: EnrollmentOut},
    )  # fmt: skip
    route(
        app, "PUT", path, change, role="admin", tag=TAG, body=SettingsIn,
        summary="Change auto-enrollment settings at runtime (stored, audited)",
        responses={200: EnrollmentOut, 422: Error},
    )  # fmt: skip
