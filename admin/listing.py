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
from typing import Annotated, Any

from pydantic import ConfigDict, Field, model_validator

from admin import api
from admin.api_models import Blank, MaybeTime, Out, Query, Text, problem
from policy.suppression import GLOBAL

DEFAULT_LIMIT, MAX_LIMIT = 100, 1000
GLOBAL_NAME = "global"  # how the global list ("") is named where "" cannot be written


class Window(Query):
    since: MaybeTime = Field(None, description="from this time (Unix seconds or ISO 8601)")
    until: MaybeTime = Field(None, description="before this time (Unix seconds or ISO 8601)")

    @model_validator(mode="after")
    def _until_after_since(self) -> Window:
        if self.since is not None and self.until is not None and self.until <= self.since:
            raise problem("until", "until must be after since")
        return self


class Paged(Query):
    cursor: Text = Field(None, description="next_cursor of the previous page")
    limit: Annotated[int, Blank] = Field(
        DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description=f"page size (default {DEFAULT_LIMIT})"
    )


class Row(Out):
    """A row of a list: its id and kind, and what else its kind records."""

    model_config = ConfigDict(extra="allow")
    id: int
    kind: str


class Rows(Out):
    items: list[Row]
    next_cursor: str | None


def encode_cursor(kind: str, key: list[Any]) -> str:
    raw = json.dumps([kind, *key], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(raw: str | None, kind: str, arity: int) -> list[Any] | None:
    """The key in a ``cursor`` parameter (None: first page); 400 for another list's or junk."""
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


def list_tenant(value: str | None) -> str | None:
    """A suppression list by name: "" and "global" are the global list; None: every list."""
    if value is None:
        return None
    return GLOBAL if value in ("", GLOBAL_NAME) else value


def list_name(tenant: str) -> str:
    return tenant or GLOBAL_NAME
