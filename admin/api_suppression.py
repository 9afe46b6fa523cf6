"""The suppression lists over the admin API: list, look up, add, remove (CSV: api_suppression_csv).

Writes go through the store alone: every process's mirror follows the
store's change sequence, so an entry added here refuses the next RCPT
without telling anyone. The global list is tenant "" ("global" in a path).
Filters: ``tenant``, ``reason``, ``source`` (a prefix: "dsn" finds
"dsn:userunknown"), ``q`` (a substring of the address, any case: "@example.com"
finds a whole domain), ``since``/``until`` (when the entry was created).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from datetime import UTC, datetime

from aiohttp import web

from admin import api
from admin import listing as ls
from policy.store.admin_sql import SuppressionFilter
from policy.suppression import GLOBAL, REASONS, Suppression, normalize

MAX_ADDRESSES = 1000  # per POST; a larger set goes through the CSV import
ADDRESS = re.compile(r"^[^@\s,;<>()\[\]\"]+@[^@\s,;<>()\[\]\"]+\.[^@\s,;<>()\[\]\".]+$")
TAG = "suppression"

ENTRY = {
    "type": "object",
    "properties": {
        "tenant": {"type": "string", "description": '"" for the global list'},
        "address": {"type": "string"},
        "reason": {"type": "string", "enum": list(REASONS)},
        "source": {"type": "string"},
        "created": {"type": "number", "description": "Unix time"},
        "expires": {"type": "number", "nullable": True, "description": "Unix time; null: never"},
        "active": {"type": "boolean", "description": "false once expired"},
    },
}
PAGE = {
    "type": "object",
    "properties": {
        "items": {"type": "array", "items": ENTRY},
        "next_cursor": {"type": "string", "nullable": True},
    },
}
ADD_BODY = {
    "type": "object",
    "required": ["tenant"],
    "additionalProperties": False,
    "oneOf": [{"required": ["address"]}, {"required": ["addresses"]}],
    "properties": {
        "tenant": {"type": "string", "description": '"" or "global": the global list'},
        "address": {"type": "string"},
        "addresses": {
            "type": "array",
            "items": {"type": "string"},
            "minItems": 1,
            "maxItems": MAX_ADDRESSES,
        },
        # null is taken for absent (api.field_of).
        "reason": {
            "type": "string",
            "enum": [*REASONS, None],
            "nullable": True,
            "default": "manual",
        },
        "expires": {
            "oneOf": [{"type": "number", "nullable": True}, {"type": "string"}],
            "description": "Unix time or ISO 8601; absent or null: until removed",
        },
    },
}
FILTER_PARAMS = [
    api.query_param("tenant", description='a tenant; "" or "global": the global list'),
    api.query_param("reason", enum=list(REASONS)),
    api.query_param("source", description='a prefix of the source: "dsn" finds "dsn:..."'),
    api.query_param("q", description="a substring of the address, any case"),
    ls.SINCE_PARAM,
    ls.UNTIL_PARAM,
]


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


def filters_of(request: web.Request) -> SuppressionFilter:
    since, until = ls.window(request)
    return SuppressionFilter(
        tenant=ls.list_tenant(request.query.get("tenant")),
        reason=ls.one_of(request, "reason", REASONS),
        source=ls.text(request, "source"),
        q=ls.text(request, "q"),
        since=since,
        until=until,
    )


def _now(request: web.Request) -> float:
    return api.context(request).clock().timestamp()


async def list_entries(request: web.Request) -> web.Response:
    filters = filters_of(request)
    limit = ls.limit_of(request)
    after = ls.decode_cursor(request, "s", 2)
    key = (str(after[0]), str(after[1])) if after else None
    rows = await api.context(request).store.suppression_page(filters, key, limit + 1)
    now = _now(request)
    page = rows[:limit]
    cursor = None
    if len(rows) > limit:
        cursor = ls.encode_cursor("s", [page[-1].tenant, page[-1].address])
    return web.json_response(api.Page([entry_dict(e, now) for e in page], cursor).as_dict())


async def get_entry(request: web.Request) -> web.Response:
    tenant = ls.list_tenant(request.match_info["tenant"]) or GLOBAL
    address = normalize(request.match_info["address"])
    entry = await api.context(request).store.suppression_entry(tenant, address)
    now = _now(request)
    if entry is None or not entry.active(now):
        raise api.ApiError(
            404, "not_suppressed", f"{address} is not on the {ls.list_name(tenant)} list"
        )
    return web.json_response(entry_dict(entry, now))


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


def _addresses(body: dict) -> list[str]:
    if ("address" in body) == ("addresses" in body):
        raise api.ApiError(
            422, "missing_field", "give address or addresses (one of them)", "address"
        )
    if "address" in body:
        named = [("address", api.field_of(body, "address", str))]
    else:
        values = api.field_of(body, "addresses", list)
        if not 1 <= len(values) <= MAX_ADDRESSES:
            raise api.ApiError(
                422,
                "invalid_field",
                f"addresses must hold 1 to {MAX_ADDRESSES} addresses"
                " (more: POST /api/suppression/import)",
                "addresses",
            )
        named = [(f"addresses[{i}]", value) for i, value in enumerate(values)]
    out = []
    for field, value in named:
        if not isinstance(value, str):
            raise api.ApiError(422, "invalid_field", f"{field} must be a string", field)
        address = normalize(value)
        if problem := address_problem(address):
            raise api.ApiError(422, "invalid_field", f"{field}: {problem}", field)
        out.append(address)
    return list(dict.fromkeys(out))


def _expires(body: dict, now: float) -> float | None:
    value = api.field_of(body, "expires", (int, float, str), default=None)
    if value is None:
        return None
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise api.ApiError(
                422, "invalid_field", "expires must be a Unix time or an ISO 8601 time", "expires"
            ) from None
        value = (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()
    if not math.isfinite(value) or value <= now:
        raise api.ApiError(422, "invalid_field", "expires must be in the future", "expires")
    return float(value)


def _target(tenant: str, addresses: Sequence[str]) -> str:
    name = ls.list_name(tenant)
    return f"{name}:{addresses[0]}" if len(addresses) == 1 else f"{name}:{len(addresses)} addresses"


async def add_entries(request: web.Request) -> web.Response:
    body = await api.json_body(request)
    api.no_other_fields(body, ["tenant", "address", "addresses", "reason", "expires"])
    tenant = writable_tenant(request, api.field_of(body, "tenant", str), "tenant")
    addresses = _addresses(body)
    reason = api.field_of(
        body,
        "reason",
        str,
        default="manual",
        check=lambda v: None if v in REASONS else f"must be one of {', '.join(REASONS)}",
    )
    now = _now(request)
    expires = _expires(body, now)
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
    return web.json_response({"suppressed": len(entries), "entries": after})


async def remove_entry(request: web.Request) -> web.Response:
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
    return web.json_response({"removed": removed})


def add_routes(app: web.Application) -> None:
    route = api.route
    route(
        app,
        "GET",
        "/api/suppression",
        list_entries,
        role="viewer",
        summary="Suppression entries, in (tenant, address) order, a page at a time",
        tag=TAG,
        responses={200: PAGE},
        query=[*FILTER_PARAMS, ls.CURSOR_PARAM, ls.LIMIT_PARAM],
    )
    route(
        app,
        "GET",
        "/api/suppression/{tenant}/{address}",
        get_entry,
        role="viewer",
        summary='One address\'s entry ("global": the global list); 404 when not suppressed',
        tag=TAG,
        responses={200: ENTRY},
    )
    route(
        app,
        "POST",
        "/api/suppression",
        add_entries,
        role="operator",
        summary="Suppress addresses for a tenant or globally",
        tag=TAG,
        body=ADD_BODY,
        responses={200: {"type": "object"}},
    )
    route(
        app,
        "DELETE",
        "/api/suppression/{tenant}/{address}",
        remove_entry,
        role="operator",
        summary="Remove an address from a list",
        tag=TAG,
        responses={200: {"type": "object", "properties": {"removed": ENTRY}}},
    )
