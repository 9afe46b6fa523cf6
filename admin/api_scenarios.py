"""Admin API: scenarios (definition, versions, lifecycle, enrollment, stats) and the
recorded contact events their stop rules read (``{"kind": "replied"}``)."""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from aiohttp import web
from pydantic import Field, ValidationError

from admin.api import ApiError, audit, context
from admin.api_models import Body, Error, Out, Raw
from admin.openapi import route
from policy.scenarios.definition import Filters, Scenario, TreeError, parse
from policy.tenants import Directory
from scheduler.scenarios import lifecycle, stats, store_catalog
from scheduler.scenarios.catalog import Catalog
from scheduler.scenarios.definitions import parse_json, to_json

TAG = "scenarios"
MAX_ENROLL = 100_000
SCENARIO_BODY = Raw("application/json", model=Scenario)


class ScenarioOut(Out):
    tenant: str
    name: str
    version: int
    status: str
    created: float
    updated: float
    definition: dict[str, Any]
    winners: dict[str, Any]


class ScenarioList(Out):
    scenarios: list[ScenarioOut]


class EnrollBody(Body):
    emails: list[str] | None = Field(None, max_length=MAX_ENROLL)
    filter: Filters | None = None


class Skipped(Out):
    email: str
    reason: str


class EnrollOut(Out):
    enrolled: list[str]
    skipped: list[Skipped]


class MigrateBody(Body):
    emails: list[str] | None = Field(
        None, max_length=MAX_ENROLL, description="only these contacts (absent: every one)"
    )


class MigrateOut(Out):
    version: int = Field(description="the current version, where the moved ones now are")
    moved: list[str]
    skipped: list[Skipped]


class StepStats(Out):
    step: str
    variant: int
    pending: int
    deferred: int
    sent: int
    failed: int
    cancelled: int
    human_opens: int
    human_clicks: int
    open_rate: float
    click_rate: float


class ScenarioStats(Out):
    name: str
    status: str
    version: int
    enrolled: int
    active: int
    completed: int
    stopped: int
    failed: int
    steps: list[StepStats]
    winners: dict[str, Any]
    replies: dict[str, dict[str, int]] = Field(
        default_factory=dict, description="per step, replies by class (scheduler/replies.py)"
    )


class ActionOut(Out):
    name: str
    status: str


class ContactEventBody(Body):
    kind: Literal["replied"]
    detail: str = Field("", max_length=2000)


class ContactEventOut(Out):
    tenant: str
    email: str
    kind: str


def _tenant(request: web.Request) -> str:
    tenant = request.match_info["tenant"]
    if tenant not in {t.name for t in context(request).settings().tenants}:
        raise ApiError(404, "not_found", f"no tenant {tenant!r}", "tenant")
    return tenant


async def _definition(request: web.Request, tenant: str, name: str | None = None) -> Scenario:
    """The body's scenario; a PUT's body may leave out the name its path gives."""
    try:
        raw = json.loads(await request.read())
    except ValueError as exc:  # not UTF-8, not JSON
        raise ApiError(400, "invalid_json", f"the body is not JSON: {exc}", "body") from None
    if name is not None and isinstance(raw, dict):
        raw.setdefault("name", name)
    try:
        s = parse(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        message = first["msg"].removeprefix("Value error, ")
        where = ".".join(str(x) for x in first["loc"]) or _tree_path(first.get("ctx", {}))
        raise ApiError(422, "invalid_field", message, where) from None
    domain = s.sender.rpartition("@")[2]
    if not Directory(context(request).settings()).tenants[tenant].owns_domain(domain):
        raise ApiError(
            422, "invalid_field", f"{domain!r} is not a sender domain of {tenant}", "from"
        )
    if s.queue_behind is not None and (
        s.queue_behind == s.name
        or await context(request).store.scenario(tenant, s.queue_behind) is None
    ):
        # A typo here would start the scenario at once instead of after the other.
        why = f"no other scenario {s.queue_behind!r} of {tenant} to queue behind"
        raise ApiError(422, "invalid_field", why, "queue_behind")
    return s


async def _templates_exist(request: web.Request, tenant: str, s: Scenario) -> None:
    missing = await lifecycle.missing_templates(context(request).store, tenant, s)
    if missing:
        where, name = missing[0]
        names = ", ".join(sorted({n for _, n in missing}))
        raise ApiError(422, "invalid_field", f"no template {name!r} (missing: {names})", where)


def _tree_path(ctx: dict[str, Any]) -> str | None:
    """The field the steps' tree check names first ("steps[1].parent" -> "steps.1.parent")."""
    error = ctx.get("error")
    if not isinstance(error, TreeError):
        return None
    return re.sub(r"\[(\d+)\]", r".\1", error.problems[0][0])


async def _one_default(request: web.Request, tenant: str, s: Scenario) -> None:
    """A tenant has at most one default scenario (``pauses_while_filtered``)."""
    if not s.pauses_while_filtered:
        return
    for row in await context(request).store.scenarios(tenant):
        if row.name != s.name and row.status not in lifecycle.ENDED:
            if json.loads(row.definition).get("pauses_while_filtered"):
                raise ApiError(
                    409, "exists",
                    f"{row.name!r} is already {tenant}'s default scenario (pauses_while_filtered)",
                    "pauses_while_filtered",
                )  # fmt: skip


def _out(row: Any) -> dict[str, Any]:
    return {
        "tenant": row.tenant, "name": row.name, "version": row.version, "status": row.status,
        "created": row.created, "updated": row.updated,
        "definition": json.loads(row.definition), "winners": json.loads(row.winners),
    }  # fmt: skip


async def _row(request: web.Request, tenant: str) -> Any:
    name = request.match_info["name"]
    row = await context(request).store.scenario(tenant, name)
    if row is None:
        raise ApiError(404, "not_found", f"no scenario {name!r} for {tenant}", "name")
    return row


async def create(request: web.Request) -> web.Response:
    tenant = _tenant(request)
    s = await _definition(request, tenant)
    store, now = context(request).store, context(request).clock().timestamp()
    if await store.scenario(tenant, s.name) is not None:
        raise ApiError(409, "exists", f"scenario {s.name!r} exists: PUT it to change it", "name")
    await _one_default(request, tenant, s)
    await store.save_scenario(tenant, s.name, to_json(s), s.start_at, s.queue_behind, now)
    row = await store.scenario(tenant, s.name)
    await audit(request, "scenario.create", f"{tenant}/{s.name}", None, json.loads(to_json(s)))
    return web.json_response(_out(row), status=201)


async def replace(request: web.Request) -> dict[str, Any]:
    tenant = _tenant(request)
    before = await _row(request, tenant)
    s = await _definition(request, tenant, before.name)
    if s.name != before.name:
        raise ApiError(422, "invalid_field", "the name cannot change", "name")
    if before.status in lifecycle.ENDED:
        raise ApiError(409, "ended", f"the scenario is {before.status}")
    if before.status != "draft":
        await _templates_exist(request, tenant, s)
    await _one_default(request, tenant, s)
    store, now = context(request).store, context(request).clock().timestamp()
    await store.save_scenario(tenant, s.name, to_json(s), s.start_at, s.queue_behind, now)
    row = await store.scenario(tenant, s.name)
    await audit(
        request,
        "scenario.update",
        f"{tenant}/{s.name}",
        json.loads(before.definition),
        json.loads(to_json(s)),
    )
    return _out(row)


async def listing(request: web.Request) -> dict[str, Any]:
    tenant = _tenant(request)
    return {"scenarios": [_out(r) for r in await context(request).store.scenarios(tenant)]}


async def show(request: web.Request) -> dict[str, Any]:
    return _out(await _row(request, _tenant(request)))


async def enroll(request: web.Request, body: EnrollBody) -> dict[str, Any]:
    tenant = _tenant(request)
    row = await _row(request, tenant)
    catalog = store_catalog.build(context(request).store)
    if (body.emails is None) == (body.filter is None):
        raise ApiError(422, "invalid_field", "give either emails or filter", "emails")
    emails = body.emails or await _matching(catalog, tenant, body.filter or Filters())
    try:
        done = await lifecycle.enroll(context(request).store, catalog, tenant, row.name, emails)
    except lifecycle.LifecycleError as exc:
        raise ApiError(409, "invalid_state", str(exc)) from None
    await audit(
        request, "scenario.enroll", f"{tenant}/{row.name}", None, {"enrolled": len(done.enrolled)}
    )
    return {
        "enrolled": done.enrolled,
        "skipped": [{"email": e, "reason": r} for e, r in done.skipped],
    }


async def migrate(request: web.Request, body: MigrateBody | None) -> dict[str, Any]:
    tenant = _tenant(request)
    row = await _row(request, tenant)
    emails = body.emails if body is not None else None
    try:
        done = await lifecycle.migrate(context(request).store, tenant, row.name, emails)
    except lifecycle.LifecycleError as exc:
        raise ApiError(409, "invalid_state", str(exc)) from None
    await audit(
        request, "scenario.migrate", f"{tenant}/{row.name}", None,
        {"version": done.version, "moved": len(done.moved)},
    )  # fmt: skip
    return {
        "version": done.version,
        "moved": done.moved,
        "skipped": [{"email": e, "reason": r} for e, r in done.skipped],
    }


async def _matching(catalog: Catalog, tenant: str, f: Filters) -> list[str]:
    out: list[str] = []
    after = None
    while len(out) < MAX_ENROLL:
        page = await catalog.matching(tenant, f, after, 1000)
        if not page:
            break
        out.extend(page)
        after = page[-1]
    return out[:MAX_ENROLL]


async def act(request: web.Request) -> dict[str, Any]:
    tenant = _tenant(request)
    row = await _row(request, tenant)
    action = request.match_info["action"]
    if action not in ("start", "pause", "resume", "cancel"):
        raise ApiError(
            404, "not_found", f"no action {action!r}: start, pause, resume or cancel", "action"
        )
    if action == "start":
        await _templates_exist(request, tenant, parse_json(row.definition))
    now = context(request).clock().timestamp()
    try:
        status = await lifecycle.act(context(request).store, tenant, row.name, action, now)
    except lifecycle.LifecycleError as exc:
        raise ApiError(409, "invalid_state", str(exc)) from None
    await audit(request, f"scenario.{action}", f"{tenant}/{row.name}", row.status, status)
    return {"name": row.name, "status": status}


async def scenario_stats(request: web.Request) -> dict[str, Any]:
    tenant = _tenant(request)
    row = await _row(request, tenant)
    return await stats.of(context(request).store, row)


async def contact_event(request: web.Request, body: ContactEventBody) -> dict[str, Any]:
    tenant = _tenant(request)
    email = request.match_info["email"].strip().lower()
    now = context(request).clock().timestamp()
    await context(request).store.add_contact_event(tenant, email, body.kind, body.detail, now)
    await audit(request, f"contact.{body.kind}", f"{tenant}/{email}", None, {"detail": body.detail})
    return {"tenant": tenant, "email": email, "kind": body.kind}


def add_routes(app: web.Application) -> None:
    base = "/api/scenarios/{tenant}"
    one = base + "/{name}"
    conflict = {409: Error}
    table: list[tuple[str, str, Any, str, str, Any, dict[int, Any]]] = [
        ("POST", base, create, "admin", "Create a scenario (a draft)", SCENARIO_BODY,
         {201: ScenarioOut, **conflict}),
        ("GET", base, listing, "viewer", "A tenant's scenarios", None, {200: ScenarioList}),
        ("GET", one, show, "viewer", "One scenario", None, {200: ScenarioOut}),
        ("PUT", one, replace, "admin", "Change a scenario (a new version once started)",
         SCENARIO_BODY, {200: ScenarioOut, **conflict}),
        ("POST", one + "/enroll", enroll, "operator", "Enroll contacts by address or filter",
         EnrollBody, {200: EnrollOut, **conflict}),
        ("POST", one + "/migrate", migrate, "operator",
         "Move enrollments of older versions to the current one", MigrateBody,
         {200: MigrateOut, **conflict}),
        ("GET", one + "/stats", scenario_stats, "viewer", "Per step and variant figures", None,
         {200: ScenarioStats}),
        ("POST", one + "/{action:start|pause|resume|cancel}", act, "operator",
         "start, pause, resume or cancel (a start names a step's missing template: 422)",
         None, {200: ActionOut, 422: Error, **conflict}),
        ("POST", "/api/contacts/{tenant}/{email}/events", contact_event, "operator",
         "Record a contact event (a reply) for the stop rules", ContactEventBody,
         {200: ContactEventOut}),
    ]  # fmt: skip
    for method, path, handler, role, summary, body, responses in table:
        route(
            app, method, path, handler, role=role, summary=summary, tag=TAG, body=body,
            responses=responses, body_required=handler not in (act, migrate),
        )  # fmt: skip
