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
from pydantic import Field

from admin.api_models import Out
from admin.openapi import route

TAG = "spool"


@dataclass(frozen=True)
class SpoolAccess:
    status: Callable[[], dict[str, Any]]
    flush: Callable[[], None]  # the delivery task tries now, whatever its backoff


SPOOL = web.AppKey("spool", SpoolAccess)


class SpoolStatus(Out):
    enabled: bool
    dir: str | None = None
    messages: int | None = None
    bytes: int | None = None
    oldest_age: float | None = Field(None, description="seconds")
    max_messages: int | None = None
    max_bytes: int | None = None
    has_room: bool | None = None


class Flushed(Out):
    enabled: bool


async def spool_status(request: web.Request) -> dict[str, Any]:
    access = request.app.get(SPOOL)
    if access is None:
        return {"enabled": False}
    return {"enabled": True, **access.status()}


async def spool_flush(request: web.Request) -> dict[str, Any]:
    access = request.app.get(SPOOL)
    if access is not None:
        access.flush()
    return {"enabled": access is not None}


def add_routes(app: web.Application) -> None:
    route(
        app,
        "GET",
        "/api/spool",
        spool_status,
        role="viewer",
        summary="The fallback spool: messages waiting for PowerMTA, bytes, oldest age, bounds",
        tag=TAG,
        responses={200: SpoolStatus},
    )
    route(
        app,
        "POST",
        "/api/spool/flush",
        spool_flush,
        role="operator",
        summary="Deliver the spool now, whatever the delivery task's backoff",
        tag=TAG,
        responses={200: Flushed},
        body_required=False,
    )
