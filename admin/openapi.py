"""Routes of the admin API, each declared once, and the description made from them.

``route()`` takes the handler, the role it needs and the models of its query,
body and answers; the frame reads the request into those models (refusing
what they refuse, naming the field) and hands the handler the result, and
``/api/openapi.json`` (OpenAPI 3.1) is those same models' JSON Schema. An
endpoint is one model per input and one handler::

    class Hold(Body):
        hours: int = Field(ge=1, le=72, description="How long the IP rests.")
        reason: str | None = Field("", max_length=500)

    class Held(Out):
        ip: str
        until: float

    async def hold(request: web.Request, body: Hold) -> Held:
        ...  # body.hours is an int from 1 to 72 here, body.reason a string
        return Held(ip=ip, until=until)

    route(app, "POST", "/api/ips/{ip}/hold", hold, role="operator",
          summary="Rest an IP for some hours", tag="pools and IPs",
          body=Hold, responses={200: Held, 409: Error})

A handler answers a model, a dict read through its 200 model, or an aiohttp
response (CSV, text, bytes shared between requests).
"""

from __future__ import annotations

import re
import typing
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from admin.api import OPEN_PATHS, ROLE_OF
from admin.api_models import Body, Error, Query, Raw, answer, read_body, read_query

Answer = type[BaseModel] | Raw


@dataclass(frozen=True)
class Operation:
    """One route as described: what ``route()`` was told."""

    method: str
    path: str
    role: str | None
    summary: str
    tag: str
    responses: Mapping[int, Answer]
    body: type[Body] | Raw | None = None
    query: type[Query] | None = None
    body_required: bool = True
    lists: frozenset[str] = field(default_factory=frozenset)
    security: str | None = None  # a scheme of SCHEMES the route checks itself (role None)


@dataclass
class Description:
    """An app's operations, and the document made of them once it is first asked for."""

    operations: list[Operation] = field(default_factory=list)
    document: dict[str, Any] | None = None


DESCRIPTION = web.AppKey("openapi_description", Description)
# Schemes of routes that authenticate themselves, beside the admin's bearer tokens.
SCHEMES: dict[str, dict[str, str]] = {
    "ingestKey": {"type": "apiKey", "in": "header", "name": "X-Api-Key"},
}
_PATTERN = re.compile(r"\{(\w+):[^{}]+\}")


def route(
    app: web.Application,
    method: str,
    path: str,
    handler: Callable[..., Awaitable[Any]],
    *,
    role: str | None,
    summary: str,
    tag: str,
    responses: Mapping[int, Answer],
    body: type[Body] | Raw | None = None,
    query: type[Query] | None = None,
    body_required: bool = True,
    security: str | None = None,
) -> None:
    """Add a route, its checks and its description.

    The handler is called as ``handler(request, query=..., body=...)`` with the
    validated models it declared (a ``Raw`` body is its own to read). ``role``
    None: the route authenticates itself (or needs nothing). ``body_required``
    False: the body may be left out (its model's defaults then).
    """
    # A path part may restrict its values with aiohttp's regex (``{action:start|stop}``), so
    # that it does not also match a fixed sibling; the template everywhere else is plain.
    plain = _PATTERN.sub(r"{\1}", path)
    op = Operation(
        method, plain, role, summary, tag, responses, body, query, body_required, _lists(query),
        security,
    )  # fmt: skip
    app.router.add_route(method, path, _endpoint(op, handler))
    if role is None:
        app[OPEN_PATHS].add((method, plain))
    else:
        app[ROLE_OF][(method, plain)] = role
    app[DESCRIPTION].operations.append(op)


def _lists(query: type[Query] | None) -> frozenset[str]:
    if query is None:
        return frozenset()
    fields = query.model_fields
    return frozenset(n for n, f in fields.items() if typing.get_origin(f.annotation) is list)


def _endpoint(op: Operation, handler: Callable[..., Awaitable[Any]]) -> Callable:
    ok = op.responses.get(200)
    model = ok if isinstance(ok, type) else None
    body = op.body if isinstance(op.body, type) else None

    async def endpoint(request: web.Request) -> web.StreamResponse:
        given: dict[str, Any] = {}
        if op.query is not None:
            given["query"] = read_query(request, op.query, op.lists)
        if body is not None:
            given["body"] = await read_body(request, body, op.body_required)
        return answer(await handler(request, **given), model)

    return endpoint


# -- the description ---------------------------------------------------------------


async def openapi_json(request: web.Request) -> web.Response:
    description = request.app[DESCRIPTION]
    if description.document is None:  # routes are fixed once the app runs
        description.document = openapi(description.operations)
    return web.json_response(description.document)


def openapi(operations: list[Operation]) -> dict[str, Any]:
    models = _models(operations)
    refs, defs = models_json_schema(models, ref_template="#/components/schemas/{model}")
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op, refs)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Sluice admin API",
            "version": "1",
            "description": "Warmup, quotas, suppression, kill switches and events of a Sluice"
            " gateway. Bearer tokens are declared in http.admin_tokens.",
        },
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}, **SCHEMES},
            "schemas": defs.get("$defs", {}),
        },
    }


# pydantic keys each model (or pydantic dataclass) with its mode.
Refs = Mapping[tuple[type[Any], JsonSchemaMode], Any]


def _models(operations: list[Operation]) -> list[tuple[type[BaseModel], Any]]:
    seen: dict[tuple[type[BaseModel], str], None] = {(Error, "serialization"): None}
    for op in operations:
        if isinstance(op.body, type):
            seen[(op.body, "validation")] = None
        if isinstance(op.body, Raw) and op.body.model is not None:
            seen[(op.body.model, "validation")] = None
        for answer_ in op.responses.values():
            if isinstance(answer_, type):
                seen[(answer_, "serialization")] = None
    return list(seen)


def _operation(op: Operation, refs: Refs) -> dict[str, Any]:
    names = [p[1:-1].split(":")[0] for p in op.path.split("/") if p.startswith("{")]
    params = [
        {"name": n, "in": "path", "required": True, "schema": {"type": "string"}} for n in names
    ]
    operation: dict[str, Any] = {
        "summary": op.summary,
        "tags": [op.tag],
        "operationId": f"{op.method.lower()}_{op.path.strip('/').replace('/', '_')}".replace(
            "{", ""
        ).replace("}", ""),
        "parameters": params + _query_params(op.query),
        "responses": {},
    }
    if op.role is not None:
        operation["security"] = [{"bearer": []}]
        operation["description"] = f"Needs the {op.role} role."
    elif op.security is not None:
        operation["security"] = [{op.security: []}]
    for status, shape in op.responses.items():
        operation["responses"][str(status)] = _content(status, shape, refs, "serialization")
    # A body past the listener's client_max_size is refused with 413 before the handler.
    errors = [400, 404, 413, 422] if op.body is not None else [400, 404]
    if op.role is not None:
        errors += [401, 403, 429]
    for status in errors:
        operation["responses"].setdefault(
            str(status), _content(status, Error, refs, "serialization")
        )
    if op.body is not None:
        content = _content(0, op.body, refs, "validation")["content"]
        operation["requestBody"] = {"required": op.body_required, "content": content}
    return operation


def _content(status: int, shape: Answer, refs: Refs, mode: JsonSchemaMode) -> dict[str, Any]:
    if isinstance(shape, Raw) and shape.model is not None:
        content = {shape.media_type: {"schema": refs[(shape.model, mode)]}}
    elif isinstance(shape, Raw):
        content = {shape.media_type: {"schema": dict(shape.schema)}}
    else:
        content = {"application/json": {"schema": refs[(shape, mode)]}}
    reason = HTTPStatus(status).phrase if status else ""
    return {"description": reason, "content": content}


def _query_params(query: type[Query] | None) -> list[dict[str, Any]]:
    if query is None:
        return []
    schema = query.model_json_schema()
    out = []
    for name, prop in schema["properties"].items():
        # An absent value's default of None is no value a query can hold either.
        prop = {k: v for k, v in prop.items() if k != "title" and (k, v) != ("default", None)}
        prop = _without_null(prop)
        param: dict[str, Any] = {"name": name, "in": "query", "required": False}
        # Every reader takes an empty value for an absent one (api_models.Blank).
        param["allowEmptyValue"] = True
        if "description" in prop:
            param["description"] = prop.pop("description")
        param["schema"] = prop
        out.append(param)
    return out


def _without_null(prop: dict[str, Any]) -> dict[str, Any]:
    """A query value is a string or absent, never null: an optional one's null branch goes."""
    branches = [b for b in prop.get("anyOf", ()) if b != {"type": "null"}]
    if len(branches) != 1:
        return prop
    rest = {k: v for k, v in prop.items() if k != "anyOf"}
    return {**branches[0], **rest}
