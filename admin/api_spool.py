"""Admin API: the fallback spool of this process (``gateway.spool``), and a flush.

The daemon hands the figures and the flush over as plain callables
(``SpoolAccess``), so the admin side never imports the gateway. Without a
spool (turned off, or the outbox sink) the answer says so.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from admin.api import route

TAG = "spool"


@dataclass(frozen=True)
class SpoolAccess:
    status: Callable[[], dict[str, Any]]
    flush: Callable[[], None]  # the delivery task tries now, whatever its backoff


SPOOL = web.AppKey("spool", SpoolAccess)

STATUS_SCHEMA = {
    "type": "object",
    "required": ["enabled"],
    "properties": {
        "enabled": {"type": "boolean"},
        "dir": {"type": "string"},
        "messages": {"type": "integer"},
        "bytes": {"type": "integer"},
        "oldest_age": {"type": "number", "description": "seconds"},
        "max_messages": {"type": "integer"},
        "max_bytes": {"type": "integer"},
        "has_room": {"type": "boolean"},
    },
}


async def spool_status(request: web.Request) -> web.Response:
    access = request.app.get(SPOOL)
    if access is None:
        return web.json_response({"enabled": False})
    return web.json_response({"enabled": True, **access.status()})


async def spool_flush(request: web.Request) -> web.Response:
    access = request.app.get(SPOOL)
    if access is not None:
        access.flush()
    return web.json_response({"enabled": access is not None})


def add_routes(app: web.Application) -> None:
    route(
        app,
        "GET",
        "/api/spool",
        spool_status,
        role="viewer",
        summary="The fallback spool: messages waiting for PowerMTA, bytes, oldest age, bounds",
        tag=TAG,
        responses={200: STATUS_SCHEMA},
    )
    route(
        app,
        "POST",
        "/api/spool/flush",
        spool_flush,
        role="operator",
        summary="Deliver the spool now, whatever the delivery task's backoff",
        tag=TAG,
        responses={
            200: {
                "type": "object",
                "required": ["enabled"],
                "properties": {"enabled": {"type": "boolean"}},
            }
        },
    )
