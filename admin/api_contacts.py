"""Admin API: a tenant's contacts (batch upsert, pages, one contact, CSV import and export).

A batch writes its valid items and answers each invalid one by index and
field; a CSV import is all or nothing, every bad cell named by row and
column. The export streams a page at a time.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import asdict
from typing import Any, ClassVar, Literal

from aiohttp import web
from pydantic import Field

from admin.api import ApiError, audit, context
from admin.api_models import Body, Error, Out, Query, Raw
from admin.openapi import route
from policy.scenarios import contacts_csv
from policy.scenarios.contacts import Contact, ContactFilter, given, normalise_email, parse

log = logging.getLogger("sluice.admin")
TAG = "contacts"
MAX_BATCH = 5000
MAX_CSV = 8 * 1024 * 1024
PAGE = 1000
MAX_PROBLEMS = 1000


class Batch(Body):
    MAX_BYTES: ClassVar[int] = 16 * 1024 * 1024  # 5,000 contacts with their custom fields
    contacts: list[dict[str, Any]] = Field(max_length=MAX_BATCH)


class ItemError(Out):
    index: int
    field: str
    message: str


class Upserted(Out):
    created: int
    updated: int
    errors: list[ItemError]


class ContactOut(Out):
    email: str
    first_name: str
    last_name: str
    language: str
    country: str
    category: str
    tier: int | None
    score: float | None
    validation_score: float | None
    deliverable: bool | None
    timezone: str
    custom: dict[str, Any]
    tags: list[str]
    status: str
    source: str
    created: float
    updated: float


class Page(Out):
    contacts: list[ContactOut]
    next: str | None = Field(description="the cursor of the next page; null: the last one")


def _split(text: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in text.split(",") if x.strip())


class Filters(Query):
    tag: str = Field("", max_length=100, description="comma-separated: has every tag given")
    language: str = Field("", max_length=100, description="comma-separated: any of them")
    country: str = Field("", max_length=100, description="comma-separated: any of them")
    category: str = Field("", max_length=100, description="comma-separated: any of them")
    min_score: float | None = None
    status: Literal["active", "do_not_contact"] | None = Field(None, description="absent: any")
    after: str | None = Field(
        None, max_length=320, description="the cursor: the last email of the page before"
    )
    limit: int = Field(100, ge=1, le=PAGE)


class Deleted(Out):
    deleted: bool


def tenant_of(request: web.Request) -> str:
    tenant = request.match_info["tenant"]
    if tenant not in {t.name for t in context(request).settings().tenants}:
        raise ApiError(404, "not_found", f"no tenant {tenant!r}", "tenant")
    return tenant


def out(c: Contact) -> ContactOut:
    fields = asdict(c)
    fields.pop("tenant")
    return ContactOut(**{**fields, "custom": dict(c.custom), "tags": list(c.tags)})


async def upsert(request: web.Request, body: Batch) -> Upserted:
    tenant = tenant_of(request)
    good: list[Contact] = []
    fields: list[frozenset[str]] = []
    errors: list[ItemError] = []
    for i, item in enumerate(body.contacts):
        contact, problems = parse(tenant, item)
        errors += [ItemError(index=i, field=f, message=m) for f, m in problems.items()]
        if contact is not None:
            good.append(contact)
            fields.append(given(item))
    store = context(request).store
    answers = await store.upsert_contacts(tenant, good, fields) if good else []
    created = answers.count("created")
    await audit(request, "contacts.upsert", tenant, None, {"written": len(good)})
    return Upserted(created=created, updated=len(answers) - created, errors=errors)


async def listing(request: web.Request, query: Filters) -> Page:
    tenant = tenant_of(request)
    f = ContactFilter(
        tags=_split(query.tag.lower()), languages=_split(query.language.lower()),
        countries=_split(query.country.upper()), categories=_split(query.category.lower()),
        min_score=query.min_score, status=query.status,
    )  # fmt: skip
    found = await context(request).store.contacts_page(tenant, f, query.after, query.limit + 1)
    more = len(found) > query.limit
    shown = found[: query.limit]
    return Page(contacts=[out(c) for c in shown], next=shown[-1].email if more else None)


def _email(request: web.Request) -> str:
    try:
        return normalise_email(request.match_info["email"])
    except ValueError as exc:
        raise ApiError(404, "not_found", str(exc), "email") from None


async def show(request: web.Request) -> ContactOut:
    tenant, email = tenant_of(request), _email(request)
    found = await context(request).store.contact(tenant, email)
    if found is None:
        raise ApiError(404, "not_found", f"no contact {email} for {tenant}", "email")
    return out(found)


async def delete(request: web.Request) -> Deleted:
    tenant, email = tenant_of(request), _email(request)
    if not await context(request).store.delete_contact(tenant, email):
        raise ApiError(404, "not_found", f"no contact {email} for {tenant}", "email")
    await audit(request, "contacts.delete", f"{tenant}/{email}", None, None)
    return Deleted(deleted=True)


async def import_csv(request: web.Request) -> web.Response | Upserted:
    tenant = tenant_of(request)
    if request.content_type not in ("text/csv", "text/plain"):
        raise ApiError(415, "unsupported_media_type", "send Content-Type: text/csv", "body")
    raw = await request.clone(client_max_size=MAX_CSV).read()
    try:
        contacts, problems = contacts_csv.read(raw.decode("utf-8-sig"), tenant)
    except UnicodeDecodeError as exc:
        raise ApiError(422, "invalid_csv", f"not UTF-8 (byte {exc.start})", "body") from None
    except Exception as exc:  # what the csv module cannot read at all
        raise ApiError(422, "invalid_csv", f"not CSV: {exc}", "body") from None
    if problems:
        shown = problems[:MAX_PROBLEMS]
        rows = [{"row": p.row, "column": p.column, "message": p.message} for p in shown]
        message = "\n".join(str(p) for p in shown)
        error = {"code": "invalid_csv", "message": message, "field": "body", "rows": rows}
        return web.json_response({"error": error}, status=422)
    store = context(request).store
    answers = await store.upsert_contacts(
        tenant, [c for c, _ in contacts], [g for _, g in contacts]
    )
    created = answers.count("created")
    await audit(request, "contacts.import", tenant, None, {"rows": len(contacts)})
    return Upserted(created=created, updated=len(answers) - created, errors=[])


async def export_csv(request: web.Request) -> web.StreamResponse:
    tenant = tenant_of(request)
    store = context(request).store
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="contacts-{tenant}.csv"',
        }
    )
    await response.prepare(request)
    try:
        after, header = None, True
        while True:
            page = await store.contacts_page(tenant, ContactFilter(status=None), after, PAGE)
            chunk = "".join(contacts_csv.rows(page, header=header))
            if chunk:
                await response.write(chunk.encode())
            header = False
            if len(page) < PAGE:
                break
            after = page[-1].email
    except ConnectionError:
        return response
    except Exception:
        log.exception("contacts export failed")  # cut, so the file is not taken for whole
        if request.transport is not None:
            request.transport.abort()
        return response
    with contextlib.suppress(ConnectionError):
        await response.write_eof()
    return response


def add_routes(app: web.Application) -> None:
    base = "/api/contacts/{tenant}"
    one = base + "/{email:[^/]+@[^/]+}"  # an address: never "import" or "export"
    table: list[tuple[str, str, Any, str, str, Any, Any, dict[int, Any]]] = [
        ("POST", base, upsert, "operator", "Create or update up to 5,000 contacts", Batch, None,
         {200: Upserted}),
        ("GET", base, listing, "viewer", "A page of contacts, filtered", None, Filters,
         {200: Page}),
        ("POST", base + "/import", import_csv, "operator",
         "Import contacts from CSV: every row or none", Raw("text/csv"), None,
         {200: Upserted, 415: Error}),
        ("GET", base + "/export", export_csv, "viewer", "Every contact as CSV, streamed", None,
         None, {200: Raw("text/csv")}),
        ("GET", one, show, "viewer", "One contact", None, None, {200: ContactOut}),
        ("DELETE", one, delete, "operator", "Forget a contact", None, None, {200: Deleted}),
    ]  # fmt: skip
    for method, path, handler, role, summary, body, query, responses in table:
        route(
            app, method, path, handler, role=role, summary=summary, tag=TAG, body=body,
            query=query, responses=responses,
        )  # fmt: skip
