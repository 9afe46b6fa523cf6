"""What the admin lists share: opaque cursors, the page size, filters read from the query.

A cursor is the key of the last row a page ended on (a (tenant, address)
pair, an id), tagged with its list so that one list's cursor is refused by
another. Keys, not offsets: rows written between two requests neither
repeat nor push rows out of the walk.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from aiohttp import web

from admin import api
from policy.suppression import GLOBAL

DEFAULT_LIMIT, MAX_LIMIT = 100, 1000
GLOBAL_NAME = "global"  # how the global list ("") is named where "" cannot be written

LIMIT_PARAM = api.query_param(
    "limit", "integer", f"page size (default {DEFAULT_LIMIT})", minimum=1, maximum=MAX_LIMIT
)
CURSOR_PARAM = api.query_param("cursor", description="next_cursor of the previous page")
SINCE_PARAM = api.query_param("since", description="from this time (Unix seconds or ISO 8601)")
UNTIL_PARAM = api.query_param("until", description="before this time (Unix seconds or ISO 8601)")


def encode_cursor(kind: str, key: list[Any]) -> str:
    raw = json.dumps([kind, *key], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(request: web.Request, kind: str, arity: int) -> list[Any] | None:
    """The key in the ``cursor`` parameter (None: first page); 400 for another list's or junk."""
    raw = request.query.get("cursor", "")
    if not raw:
        return None
    try:
        value = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except (binascii.Error, ValueError):
        value = None
    if not isinstance(value, list) or len(value) != arity + 1 or value[0] != kind:
        raise api.ApiError(
            400, "invalid_parameter", "cursor is not a next_cursor of this list", "cursor"
        )
    return value[1:]


def limit_of(request: web.Request) -> int:
    return api.query_int(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)


def text(request: web.Request, name: str) -> str | None:
    """A query parameter; None when absent or empty."""
    value = request.query.get(name, "").strip()
    return value or None


def choices(request: web.Request, name: str, known: tuple[str, ...]) -> tuple[str, ...]:
    """A parameter given repeatedly or as a comma list, each value one of ``known``."""
    values = [v.strip() for raw in request.query.getall(name, []) for v in raw.split(",")]
    values = [v for v in values if v]
    for value in values:
        if value not in known:
            raise api.ApiError(
                400,
                "invalid_parameter",
                f"{name} {value!r} is not one of {', '.join(known)}",
                name,
            )
    return tuple(dict.fromkeys(values))


def one_of(request: web.Request, name: str, known: tuple[str, ...]) -> str | None:
    value = text(request, name)
    if value is not None and value not in known:
        raise api.ApiError(
            400, "invalid_parameter", f"{name} must be one of {', '.join(known)}", name
        )
    return value


def window(request: web.Request) -> tuple[float | None, float | None]:
    since, until = api.query_float(request, "since"), api.query_float(request, "until")
    if since is not None and until is not None and until <= since:
        raise api.ApiError(400, "invalid_parameter", "until must be after since", "until")
    return since, until


def list_tenant(value: str | None) -> str | None:
    """A suppression list by name: "" and "global" are the global list; None: every list."""
    if value is None:
        return None
    return GLOBAL if value in ("", GLOBAL_NAME) else value


def list_name(tenant: str) -> str:
    return tenant or GLOBAL_NAME
