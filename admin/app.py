"""The admin listener: health, readiness and Prometheus metrics.

Readiness checks arrive as plain callables from the daemon, so the admin
side never imports the gateway.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

Check = Callable[[], Awaitable[None]]
CHECKS = web.AppKey("checks", dict)
CHECK_TIMEOUT = 2.0


async def healthz(request: web.Request) -> web.Response:
    """The process is alive and its event loop answers."""
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Every dependency answers: 200, else 503 naming what failed."""
    checks: dict[str, Check] = request.app[CHECKS]
    results = await asyncio.gather(*(_run(check) for check in checks.values()))
    report = dict(zip(checks, results, strict=True))
    ready = all(r == "ok" for r in report.values())
    return web.json_response(
        {"status": "ready" if ready else "not ready", "checks": report},
        status=200 if ready else 503,
    )


async def _run(check: Check) -> str:
    try:
        await asyncio.wait_for(check(), CHECK_TIMEOUT)
    except TimeoutError:
        return "timeout"
    except Exception as exc:
        return f"error: {exc.__class__.__name__}: {exc}"[:200]
    return "ok"


async def metrics(request: web.Request) -> web.Response:
    return web.Response(
        body=generate_latest(REGISTRY), headers={"Content-Type": CONTENT_TYPE_LATEST}
    )


def make_app(checks: dict[str, Check]) -> web.Application:
    app = web.Application()
    app[CHECKS] = checks
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    return app
