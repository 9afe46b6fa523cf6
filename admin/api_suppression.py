"""The suppression lists over the admin API: list, look up, add, remove (CSV: api_suppression_csv).

Writes go through the store alone: every process's mirror follows the
store's change sequence, so an entry added here refuses the next RCPT
without telling anyone. The global list is tenant "" ("global" in a path).
Filters: ``tenant``, ``reason``, ``source`` (a prefix: "dsn" finds
"dsn:userunknown"), ``q`` (a substring of the address, any case: "@example.com"
finds a whole domain), ``since``/``until`` (when the entry was created).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema

from admin import api
from admin import listing as ls
from admin.api_models import Blank, Body, Out, Text, problem
from admin.openapi import route
from policy.store.admin_sql import SuppressionFilter
from policy.suppression import GLOBAL, REASONS, Suppression, normalize

MAX_ADDRESSES = 1000  # per POST; a larger set goes through the CSV import
ADDRESS = re.compile(r"^[^@\s,;<>()\[\]\"]+@[^@\s,;<>()\[\]\"]+\.[^@\s,;<>()\[\]\".]+$")
TAG = "suppression"
Reason = Literal[REASONS]  # type: ignore[valid-type]


class Entry(Out):
    tenant: str = Field(description='"" for the global list')
    address: str
    reason: Reason
    source: str
    created: float = Field(description="Unix time")
    expires: float | None = Field(description="Unix time; null: never")
    active: bool = Field(description="false once expired")


class EntryPage(Out):
    items: list[Entry]
    next_cursor: str | None


class Filters(ls.Window):
    tenant: str | None = Field(None, description='a tenant; "" or "global": the global list')
    reason: Annotated[Reason | None, Blank] = None
    source: Text = Field(None, description='a prefix of the source: "dsn" finds "dsn:..."')
    q: Text = Field(None, description="a substring of the address, any case")


class ListQuery(Filters, ls.Paged):
    pass


def entry_dict(e: Suppression, now: float) -> dict:
    return {
        "tenant": e.tenant,
        "address": e.address,
        "reason": e.reason,
        "source": e.source,
        "created": e.created_at,
        "expires": e.expires_at,
        "active": e.active(now),
    }


def filters_of(query: Filters) -> SuppressionFilter:
    return SuppressionFilter(
        tenant=ls.list_tenant(query.tenant),
        reason=query.reason,
        source=query.source,
        q=query.q,
        since=query.since,
        until=query.until,
    )


def _now(request: web.Request) -> float:
    return api.context(request).clock().timestamp()


async def list_entries(request: web.Request, query: ListQuery) -> dict[str, Any]:
    filters = filters_of(query)
    limit = query.limit
    after = ls.decode_cursor(query.cursor, "s", 2)
    key = (str(after[0]), str(after[1])) if after else None
    rows = await api.context(request).store.suppression_page(filters, key, limit + 1)
    now = _now(request)
    page = rows[:limit]
    cursor = None
    if len(rows) > limit:
        cursor = ls.encode_cursor("s", [page[-1].tenant, page[-1].address])
    return api.Page([entry_dict(e, now) for e in page], cursor).as_dict()


async def get_entry(request: web.Request) -> dict[str, Any]:
    tenant = ls.list_tenant(request.match_info["tenant"]) or GLOBAL
    address = normalize(request.match_info["address"])
    entry = await api.context(request).store.suppression_entry(tenant, address)
    now = _now(request)
    if entry is None or not entry.active(now):
        raise api.ApiError(
            404, "not_suppressed", f"{address} is not on the {ls.list_name(tenant)} list"
        )
    return entry_dict(entry, now)


def writable_tenant(request: web.Request, value: str, field: str, status: int = 422) -> str:
    """A list entries may be written to: the global one or a configured tenant's."""
    tenant = ls.list_tenant(value) or GLOBAL
    known = [t.name for t in api.context(request).settings().tenants]
    if tenant != GLOBAL and tenant not in known:
        code = "invalid_field" if status == 422 else "invalid_parameter"
        raise api.ApiError(
            status,
            code,
            f'no tenant {tenant!r} (known: {", ".join(known)}; "" or global: the global list)',
            field,
        )
    return tenant


def address_problem(address: str) -> str | None:
    if len(address) > 254:
        return "is longer than 254 characters"
    if not ADDRESS.match(address):
        return f"{address!r} is not an email address (local@domain.tld)"
    return None


def _checked(value: str) -> str:
    address = normalize(value)
    if problem_ := address_problem(address):
        raise ValueError(problem_)
    return address


def _expiry(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError("must be a Unix time or an ISO 8601 time") from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


Address = Annotated[str, AfterValidator(_checked)]


class AddEntries(Body):
    model_config = ConfigDict(
        json_schema_extra={"oneOf": [{"required": ["address"]}, {"required": ["addresses"]}]}
    )
    tenant: str = Field(description='"" or "global": the global list')
    address: Address | SkipJsonSchema[None] = None
    addresses: (
        Annotated[
            list[Address],
            Field(
                min_length=1,
                max_length=MAX_ADDRESSES,
                description=f"1 to {MAX_ADDRESSES}; more: POST /api/suppression/import",
            ),
        ]
        | SkipJsonSchema[None]
    ) = None
    reason: Reason | None = "manual"
    expires: Annotated[
        float | None,
        Field(allow_inf_nan=False),
        BeforeValidator(_expiry),
        WithJsonSchema(
            {
                "anyOf": [{"type": "number"}, {"type": "string"}, {"type": "null"}],
                "description": "Unix time or ISO 8601; absent or null: until removed",
            }
        ),
    ] = None

    @model_validator(mode="before")
    @classmethod
    def _one_of_address_or_addresses(cls, data: Any) -> Any:
        if isinstance(data, dict) and ("address" in data) == ("addresses" in data):
            raise problem("address", "give address or addresses (one of them)", "missing_field")
        return data

    @model_validator(mode="after")
    def _some_address(self) -> AddEntries:
        if self.address is None and self.addresses is None:
            raise problem("address", "give address or addresses (one of them)", "missing_field")
        return self

    def all_addresses(self) -> list[str]:
        given = [self.address] if self.address is not None else self.addresses or []
        return list(dict.fromkeys(given))


class Added(Out):
    suppressed: int
    entries: list[Entry]


class Removed(Out):
    removed: Entry


def _target(tenant: str, addresses: Sequence[str]) -> str:
    name = ls.list_name(tenant)
    return f"{name}:{addresses[0]}" if len(addresses) == 1 else f"{name}:{len(addresses)} addresses"


async def add_entries(request: web.Request, body: AddEntries) -> dict[str, Any]:
    tenant = writable_tenant(request, body.tenant, "tenant")
    addresses = body.all_addresses()
    reason = body.reason or "manual"
    now = _now(request)
    expires = body.expires
    if expires is not None and expires <= now:
        raise api.ApiError(422, "invalid_field", "expires must be in the future", "expires")
    source = f"api:{api.principal(request).name}"
    entries = [Suppression(tenant, a, reason, source, now, expires) for a in addresses]
    store = api.context(request).store
    before = await store.suppression_entries(tenant, addresses)
    await store.suppress(entries)
    after = [entry_dict(e, now) for e in entries]
    await api.audit(
        request,
        "suppression.add",
        _target(tenant, addresses),
        [entry_dict(before[a], now) for a in addresses if a in before],
        after,
    )
    return {"suppressed": len(entries), "entries": after}


async def remove_entry(request: web.Request) -> dict[str, Any]:
    tenant = ls.list_tenant(request.match_info["tenant"]) or GLOBAL
    address = normalize(request.match_info["address"])
    store = api.context(request).store
    entry = await store.suppression_entry(tenant, address)
    # A concurrent removal may win between the two calls: then nothing was removed here.
    if entry is None or not await store.unsuppress(tenant, [address]):
        raise api.ApiError(
            404, "not_suppressed", f"{address} is not on the {ls.list_name(tenant)} list"
        )
    removed = entry_dict(entry, _now(request))
    await api.audit(request, "suppression.remove", _target(tenant, [address]), removed, None)
    return {"removed": removed}


def add_routes(app: web.Application) -> None:
    route(
        app,
        "GET",
        "/api/suppression",
        list_entries,
        role="viewer",
        summary="Suppression entries, in (tenant, address) order, a page at a time",
        tag=TAG,
        query=ListQuery,
        responses={200: EntryPage},
    )
    route(
        app,
        "GET",
        "/api/suppression/{tenant}/{address}",
        get_entry,
        role="viewer",
        summary='One address\'s entry ("global": the global list); 404 when not suppressed',
        tag=TAG,
        responses={200: Entry},
    )
    route(
        app,
        "POST",
        "/api/suppression",
        add_entries,
        role="operator",
        summary="Suppress addresses for a tenant or globally",
        tag=TAG,
        body=AddEntries,
        responses={200: Added},
    )
    route(
        app,
        "DELETE",
        "/api/suppression/{tenant}/{address}",
        remove_entry,
        role="operator",
        summary="Remove an address from a list",
        tag=TAG,
        responses={200: Removed},
    )
