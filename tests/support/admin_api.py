"""The admin API over real HTTP on loopback, with one token per role."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

import aiohttp
from aiohttp import web

from admin.api import AdminContext
from admin.app import make_app
from admin.auth import digest
from conf import AdminToken, Settings

TOKENS = {"admin": "admin-secret-token", "operator": "operator-secret-token"}
TOKENS["viewer"] = "viewer-secret-token"


def with_tokens(settings: Settings) -> Settings:
    """``settings`` with one admin token per role, named after the role."""
    tokens = tuple(
        AdminToken(name=role, token_sha256=digest(token), role=role)
        for role, token in TOKENS.items()
    )
    http = settings.http.model_copy(update={"admin_tokens": tokens})
    return settings.model_copy(update={"http": http})


@dataclass
class AdminServer:
    url: str  # http://127.0.0.1:port
    ctx: AdminContext
    app: web.Application

    def session(self, role: str | None = "admin") -> aiohttp.ClientSession:
        """A client sending the role's token (none for ``role=None``)."""
        headers = {"Authorization": f"Bearer {TOKENS[role]}"} if role else {}
        return aiohttp.ClientSession(base_url=self.url, headers=headers)


@contextlib.asynccontextmanager
async def serve_admin(
    settings: Settings,
    store: object,
    *,
    counters: object | None = None,
    reload: Callable[[], Awaitable[str | None]] | None = None,
    clock: Callable[[], datetime] | None = None,
    policy: object | None = None,
    setup: Callable[[web.Application], None] | None = None,
) -> AsyncIterator[AdminServer]:
    current = with_tokens(settings)
    ctx = AdminContext(
        settings=lambda: current, store=store, counters=counters, reload=reload, policy=policy
    )
    if clock is not None:
        ctx.clock = clock
    app = make_app({}, ctx=ctx)
    if setup is not None:  # app keys the daemon sets (before the app is frozen)
        setup(app)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:
        yield AdminServer(f"http://127.0.0.1:{port}", ctx, app)
    finally:
        await runner.cleanup()
