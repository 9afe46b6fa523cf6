"""The admin API's declared shapes: base models, shared field types, reading and answering.

A request body is a ``Body`` (unknown fields refused, no coercion: "5" is
not 5, true is not 1), a query a ``Query`` (strings coerced, as a query
holds nothing else), an answer an ``Out`` (a key the model does not declare
is a bug, not a detail). The frame (``admin.openapi.route``) reads each
request into its model and turns pydantic's complaint into the JSON error
that names the field: the model is the check, the default and the
description at once.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any

from aiohttp import web
from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError, WithJsonSchema
from pydantic_core import PydanticCustomError, PydanticUseDefault

from admin.api import ApiError


class Body(BaseModel):
    """A JSON request body. Null is taken for absent: a field left null gets its default
    (a required one is missing)."""

    model_config = ConfigDict(strict=True, extra="forbid")


class Query(BaseModel):
    """A query string. Unknown parameters are ignored; list fields take the parameter
    repeated or comma-separated."""

    model_config = ConfigDict(extra="ignore")


class Out(BaseModel):
    """An answer's JSON."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


@dataclass(frozen=True)
class Raw:
    """A body that is not a model's JSON (CSV, plain text, records the handler parses)."""

    media_type: str
    schema: Mapping[str, Any] = field(default_factory=lambda: {"type": "string"})
    # A JSON body the handler reads itself (its own size cap, its own parser), described
    # by this model's schema in the components.
    model: type[BaseModel] | None = None


class ErrorDetail(Out):
    model_config = ConfigDict(extra="allow")  # a CSV import's refusal lists its lines too
    code: str
    message: str
    field: str | None = None


class Error(Out):
    """Every error answer: what went wrong and, for a bad input, which field."""

    error: ErrorDetail


def problem(field: str, message: str, code: str = "invalid_field") -> PydanticCustomError:
    """A model validator's complaint about ``field`` (one the error locations cannot name)."""
    return PydanticCustomError(code, message, {"field": field})


# -- field types ------------------------------------------------------------------


def _blank_is_absent(value: Any) -> Any:
    if isinstance(value, str) and not value.strip():
        raise PydanticUseDefault()
    return value.strip() if isinstance(value, str) else value


def _unix_or_iso(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    value = _blank_is_absent(value)
    try:
        return float(value)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        raise ValueError("must be a Unix time or an ISO 8601 time") from None


# A query value where an empty one means absent (allowEmptyValue in the description).
Blank = BeforeValidator(_blank_is_absent)
Text = Annotated[str | None, Blank]
# A time as Unix seconds or ISO 8601, read as Unix seconds (empty: absent).
MaybeTime = Annotated[
    float | None, BeforeValidator(_unix_or_iso), WithJsonSchema({"type": "string"})
]


# -- reading ------------------------------------------------------------------------


async def read_body(request: web.Request, model: type[Body], required: bool) -> Body:
    """The request's JSON body as ``model``; 400 when it is not a JSON object, 422 naming
    the field otherwise."""
    # A model may allow a larger body than the listener's default (a batch of 5,000 items).
    limit: int | None = getattr(model, "MAX_BYTES", None)
    raw = await (request.clone(client_max_size=limit) if limit else request).read()
    if not raw and not required:
        return model()
    data = json_object(raw)
    fields = model.model_fields
    # null is absent, except where absent is null already (those keep the key present).
    # (A null unknown field stays, to be refused.)
    data = {
        k: v for k, v in data.items() if v is not None or k not in fields or _default_none(model, k)
    }
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _body_error(exc, model) from None


def json_object(raw: bytes) -> dict[str, Any]:
    """``raw`` as a JSON object; 400 when it is not JSON or not an object."""
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError
        raise ApiError(400, "invalid_json", f"the body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_json", "the body must be a JSON object")
    return data


def _default_none(model: type[BaseModel], name: str) -> bool:
    info = model.model_fields[name]
    return not info.is_required() and info.default is None


def read_query(request: web.Request, model: type[Query], lists: frozenset[str]) -> Query:
    """The query string as ``model`` (``lists``: its fields that take many values); 400
    naming the parameter otherwise."""
    data: dict[str, Any] = {}
    for name in model.model_fields:
        if name in lists:
            values = [v.strip() for raw in request.query.getall(name, []) for v in raw.split(",")]
            data[name] = list(dict.fromkeys(v for v in values if v))
        elif name in request.query:
            data[name] = request.query[name]
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = str(first["loc"][0]) if first["loc"] else (first.get("ctx") or {}).get("field", "")
        message = _message(first)
        if first["type"] not in ("missing_field", "invalid_field"):  # not a problem() already
            message = f"{name}: {message}"
        raise ApiError(400, "invalid_parameter", message, name) from None


def _body_error(exc: ValidationError, model: type[BaseModel]) -> ApiError:
    # Unknown fields first, as a body is refused for them before anything else is read.
    errors = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
    first = errors[0]
    name = (first.get("ctx") or {}).get("field") or field_name(first["loc"])
    kind = first["type"]
    if kind == "missing":
        return ApiError(422, "missing_field", f"{name} is required", name)
    if kind == "extra_forbidden":
        known = ", ".join(f.alias or n for n, f in model.model_fields.items())
        return ApiError(422, "unknown_field", f"unknown field {name!r} (known: {known})", name)
    if kind in ("missing_field", "invalid_field"):  # a model validator's problem()
        return ApiError(422, kind, first["msg"], name)
    return ApiError(422, "invalid_field", f"{name}: {_message(first)}", name)


# The names pydantic gives the members of a union in an error's location.
_UNION_TAGS = {"none", "str", "int", "float", "bool", "list", "dict"}


def field_name(loc: tuple[int | str, ...]) -> str:
    """An error location as the API names a field: ``addresses[2]``, ``pacing.done_by``."""
    name = ""
    for part in loc:
        if isinstance(part, int):
            name += f"[{part}]"
        elif part.isidentifier() and part not in _UNION_TAGS:
            name += f".{part}" if name else part
    return name


def _message(error: Mapping[str, Any]) -> str:
    if error["type"] == "value_error":
        return str(error["ctx"]["error"])
    message = str(error["msg"])
    return message[0].lower() + message[1:]


# -- answering ---------------------------------------------------------------------


def answer(value: Any, model: type[BaseModel] | None) -> web.StreamResponse:
    """A handler's result as the response: a model (or a dict read through the route's
    answer model) as its JSON; a response as it is."""
    if isinstance(value, web.StreamResponse):
        return value
    if isinstance(value, dict) and model is not None:
        value = model.model_validate(value)
    if isinstance(value, BaseModel):
        return web.Response(body=encode(value), content_type="application/json")
    return web.json_response(value)


def encode(value: BaseModel) -> bytes:
    # Unset: a key the handler left out stays out (the model says whether it may).
    return value.model_dump_json(by_alias=True, exclude_unset=True).encode()
