"""Admin API: a tenant's templates, checked when saved, and their preview.

A template is one (name, language, category): ``language`` and ``category``
select the variant on the routes of one name (query parameters, "" by
default). Saving answers every problem at once, each naming its field, the
variable and the line.
"""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web
from pydantic import Field, ValidationError

from admin.api import ApiError, audit, context
from admin.api_contacts import tenant_of
from admin.api_models import Body, Error, Out, Query, Raw, field_name, json_object
from admin.openapi import route
from policy.scenarios import templates as tpl
from policy.scenarios.contacts import Contact, normalise_email, parse

TAG = "templates"
# Characters per part (Gmail clips HTML past 102 KB); a template's body is read with its
# own cap, above the API's 1 MB, so an over-long part is a 422 naming it.
MAX_PART = 300_000
MAX_BODY = 8 * 1024 * 1024  # two parts at their longest, escaped, fit


class TemplateBody(Body):
    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$")
    subject: str = Field(min_length=1, max_length=998)
    html: str | None = Field(None, max_length=MAX_PART)
    text: str | None = Field(None, max_length=MAX_PART)
    language: str | None = Field(None, pattern=r"^([a-z]{2})?$", description="absent: any")
    category: str | None = Field(None, max_length=100)


TEMPLATE_BODY = Raw("application/json", model=TemplateBody)


async def _body(request: web.Request, name: str | None = None) -> TemplateBody:
    """The body's template; a PUT's body may leave out the name its path gives."""
    try:
        raw = await request.clone(client_max_size=MAX_BODY).read()
        if name is not None:
            return TemplateBody.model_validate({"name": name, **json_object(raw)})
        return TemplateBody.model_validate_json(raw)
    except web.HTTPRequestEntityTooLarge:
        raise ApiError(413, "too_large", f"a template body is at most {MAX_BODY} bytes") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = field_name(first["loc"]) or None
        code = "invalid_json" if first["type"] == "json_invalid" else "invalid_field"
        raise ApiError(400 if code == "invalid_json" else 422, code, first["msg"], where) from None


class TemplateOut(Out):
    name: str
    subject: str
    html: str
    text: str
    language: str
    category: str
    updated: float
    variables: dict[str, list[str]]


class TemplateList(Out):
    templates: list[TemplateOut]


class Variant(Query):
    language: str = ""
    category: str = ""


class PreviewBody(Body):
    email: str | None = Field(None, description="a stored contact to render for")
    sample: dict[str, Any] | None = Field(None, description="contact fields to render with")
    language: str | None = None
    category: str | None = None


class Preview(Out):
    subject: str
    html: str
    text: str
    language: str
    category: str


class Deleted(Out):
    deleted: bool


def out(t: tpl.Template) -> TemplateOut:
    variables = {field: sorted(names) for field, names in tpl.variables_of(t).items()}
    return TemplateOut(
        name=t.name, subject=t.subject, html=t.html, text=t.text, language=t.language,
        category=t.category, updated=t.updated, variables=variables,
    )  # fmt: skip


def _checked(tenant: str, body: TemplateBody) -> tpl.Template:
    t = tpl.Template(
        tenant, body.name, body.subject, body.html or "", body.text or "", body.language or "",
        body.category or "", time.time(),
    )  # fmt: skip
    problems = tpl.check(t)
    if problems:  # every one, each naming its field, variable and line
        message = "; ".join(map(str, problems))
        raise ApiError(422, "invalid_template", message, problems[0].field)
    return t


async def _variant(request: web.Request, tenant: str, v: Variant) -> tpl.Template:
    name = request.match_info["name"]
    for t in await context(request).store.template_variants(tenant, name):
        if (t.language, t.category) == (v.language, v.category):
            return t
    raise ApiError(404, "not_found", f"no template {name!r} ({v.language or 'any language'})")


async def create(request: web.Request) -> web.Response:
    tenant = tenant_of(request)
    body = await _body(request)
    t = _checked(tenant, body)
    existing = await context(request).store.template_variants(tenant, t.name)
    if any((e.language, e.category) == (t.language, t.category) for e in existing):
        raise ApiError(409, "exists", f"template {t.name!r} exists: PUT it to change it", "name")
    await context(request).store.save_template(t)
    await audit(request, "template.create", f"{tenant}/{t.name}", None, {"language": t.language})
    return web.json_response(out(t).model_dump(), status=201)


async def listing(request: web.Request) -> TemplateList:
    tenant = tenant_of(request)
    return TemplateList(templates=[out(t) for t in await context(request).store.templates(tenant)])


async def show(request: web.Request, query: Variant) -> TemplateOut:
    return out(await _variant(request, tenant_of(request), query))


async def replace(request: web.Request) -> TemplateOut:
    tenant = tenant_of(request)
    body = await _body(request, request.match_info["name"])
    if body.name != request.match_info["name"]:
        raise ApiError(422, "invalid_field", "the name cannot change", "name")
    which = Variant(language=body.language or "", category=body.category or "")
    before = await _variant(request, tenant, which)
    t = _checked(tenant, body)
    await context(request).store.save_template(t)
    await audit(
        request, "template.update", f"{tenant}/{t.name}", {"subject": before.subject},
        {"subject": t.subject},
    )  # fmt: skip
    return out(t)


async def delete(request: web.Request, query: Variant) -> Deleted:
    tenant = tenant_of(request)
    t = await _variant(request, tenant, query)
    await context(request).store.delete_template(tenant, t.name, t.language, t.category)
    await audit(request, "template.delete", f"{tenant}/{t.name}", None, None)
    return Deleted(deleted=True)


async def _contact(request: web.Request, tenant: str, body: PreviewBody) -> Contact:
    if body.email is not None:
        try:
            email = normalise_email(body.email)
        except ValueError as exc:
            raise ApiError(422, "invalid_field", str(exc), "email") from None
        found = await context(request).store.contact(tenant, email)
        if found is None:
            raise ApiError(404, "not_found", f"no contact {email} for {tenant}", "email")
        return found
    sample = {"email": "sample@example.com", **(body.sample or {})}
    contact, problems = parse(tenant, sample)
    if contact is None:
        field, why = next(iter(problems.items()))
        raise ApiError(422, "invalid_field", f"sample.{field}: {why}", f"sample.{field}")
    return contact


async def preview(request: web.Request, body: PreviewBody) -> Preview:
    tenant = tenant_of(request)
    contact = await _contact(request, tenant, body)
    variants = await context(request).store.template_variants(tenant, request.match_info["name"])
    language = body.language or contact.language
    chosen = tpl.choose(variants, language, body.category or contact.category, "")
    if chosen is None:
        raise ApiError(404, "not_found", f"no template {request.match_info['name']!r}", "name")
    extra = {"unsubscribe_url": "https://unsubscribe.example/preview", "tenant": tenant}
    try:
        r = tpl.render(chosen, tpl.contact_values(contact, extra))
    except tpl.TemplateError as exc:
        raise ApiError(422, "render_failed", str(exc), exc.field) from None
    return Preview(subject=r.subject, html=r.html, text=r.text, language=chosen.language,
                   category=chosen.category)  # fmt: skip


def add_routes(app: web.Application) -> None:
    base = "/api/templates/{tenant}"
    one = base + "/{name}"
    bad = {422: Error}
    table: list[tuple[str, str, Any, str, str, Any, Any, dict[int, Any]]] = [
        ("POST", base, create, "admin", "Save a new template (checked)", TEMPLATE_BODY, None,
         {201: TemplateOut, 409: Error, **bad}),
        ("GET", base, listing, "viewer", "A tenant's templates", None, None, {200: TemplateList}),
        ("GET", one, show, "viewer", "One template variant", None, Variant, {200: TemplateOut}),
        ("PUT", one, replace, "admin", "Change a template variant (checked)", TEMPLATE_BODY, None,
         {200: TemplateOut, **bad}),
        ("DELETE", one, delete, "admin", "Delete a template variant", None, Variant,
         {200: Deleted}),
        ("POST", one + "/preview", preview, "viewer", "Render for a contact or sample data",
         PreviewBody, None, {200: Preview, **bad}),
    ]  # fmt: skip
    for method, path, handler, role, summary, body, query, responses in table:
        route(
            app, method, path, handler, role=role, summary=summary, tag=TAG, body=body,
            query=query, responses=responses,
        )  # fmt: skip
