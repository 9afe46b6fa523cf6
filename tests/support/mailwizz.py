"""A MailWizz API on loopback: the subscriber calls Sluice makes, with faults on demand.

It answers as MailWizz 2.x's List_subscribersController does (status codes
and JSON shapes), keeps subscribers per list, records every request, and
can be told to answer the next N requests with an error status, to sit on
them past the client's timeout, or to stop listening altogether (connection
refused) and start again on the same port.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiohttp import web

API_KEY = "mw-key-0123456789abcdef"


@dataclass
class Call:
    method: str
    path: str  # below the API base, e.g. /lists/ab12/subscribers/search-by-email
    query: dict[str, str]
    api_key: str | None


@dataclass
class MailWizz:
    api_key: str = API_KEY
    # list uid -> address -> [subscriber uid, status]
    lists: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    port: int = 0
    hang: float = 0.6  # seconds a "no answer" fault sits on a request: past the client's timeout
    delay: float = 0.0  # seconds every request takes (MailWizz's PHP and MySQL), for bench/
    # The next requests' fates: None answers, 0 sits past the timeout, else that status.
    _faults: list[int | None] = field(default_factory=list)
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def subscribe(self, list_uid: str, address: str, uid: str, status: str = "confirmed") -> None:
        self.lists.setdefault(list_uid, {})[address.lower()] = [uid, status]

    def status(self, list_uid: str, address: str) -> str | None:
        row = self.lists.get(list_uid, {}).get(address.lower())
        return row[1] if row else None

    def fail(self, count: int, status: int = 500, *, after: int = 0) -> None:
        """Answer ``count`` requests, after ``after`` good ones, with ``status`` (0: never)."""
        self._faults.extend([None] * after + [status] * count)

    def unsubscribes(self) -> list[Call]:
        return [c for c in self.calls if c.method == "PUT" and c.path.endswith("/unsubscribe")]

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/api/lists/subscribers/search-by-email-in-all-lists", self._search_all)
        app.router.add_get("/api/lists/{list}/subscribers/search-by-email", self._search)
        app.router.add_put("/api/lists/{list}/subscribers/{uid}/unsubscribe", self._unsubscribe)
        # A request sitting on a fault must not hold the test's shutdown for long.
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=self.hang)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        """Stop listening: requests are refused until ``start`` (same port)."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _fault(self, request: web.Request) -> web.Response | None:
        self.calls.append(
            Call(
                request.method,
                request.path.removeprefix("/api"),
                dict(request.query),
                request.headers.get("X-API-KEY"),
            )
        )
        if request.headers.get("X-API-KEY") != self.api_key:
            return _error(401, "Invalid API request signature.")
        if self.delay:
            await asyncio.sleep(self.delay)
        status = self._faults.pop(0) if self._faults else None
        if status is None:
            return None
        if status == 0:
            await asyncio.sleep(self.hang)
        return _error(status or 500, "Internal Server Error")

    async def _search_all(self, request: web.Request) -> web.Response:
        if (fault := await self._fault(request)) is not None:
            return fault
        email = request.query.get("EMAIL", "").lower()
        records = [
            {
                "subscriber_uid": row[0],
                "email": email,
                "status": row[1],
                "list": {"list_uid": list_uid, "name": list_uid, "display_name": list_uid},
            }
            for list_uid, subscribers in self.lists.items()
            if (row := subscribers.get(email))
        ]
        data = {"records": records, "count": len(records), "current_page": 1, "total_pages": 1}
        return web.json_response({"status": "success", "data": data})

    async def _search(self, request: web.Request) -> web.Response:
        if (fault := await self._fault(request)) is not None:
            return fault
        subscribers = self.lists.get(request.match_info["list"])
        if subscribers is None:
            return _error(404, "The subscribers list does not exist.")
        row = subscribers.get(request.query.get("EMAIL", "").lower())
        if row is None:
            return _error(404, "The subscriber does not exist in this list.")
        data = {"subscriber_uid": row[0], "status": row[1], "date_added": "2026-01-01 00:00:00"}
        return web.json_response({"status": "success", "data": data})

    async def _unsubscribe(self, request: web.Request) -> web.Response:
        if (fault := await self._fault(request)) is not None:
            return fault
        subscribers = self.lists.get(request.match_info["list"])
        if subscribers is None:
            return _error(404, "The subscribers list does not exist.")
        for row in subscribers.values():
            if row[0] == request.match_info["uid"]:
                if row[1] == "confirmed":  # MailWizz changes only confirmed subscribers
                    row[1] = "unsubscribed"
                return web.json_response({"status": "success"})
        return _error(404, "The subscriber does not exist in this list.")


def _error(status: int, text: str) -> web.Response:
    return web.json_response({"status": "error", "error": text}, status=status)


@asynccontextmanager
async def running() -> AsyncIterator[MailWizz]:
    mw = MailWizz()
    await mw.start()
    try:
        yield mw
    finally:
        await mw.stop()
