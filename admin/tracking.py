"""The public listener (``http.public_listen``): tracking links, the open pixel, unsubscribes.

    GET  /t/o/<token>.gif  a 1x1 GIF that no cache keeps; records an open
    GET  /t/c/<token>      302 to the link's URL; records a click
    GET  /t/u/<token>      a page with one button; changes nothing
    POST /t/u/<token>      RFC 8058 one-click (or the page's button): suppress, record, 200
    GET  /healthz          the process answers

A token that does not verify under the keys of the tenant it names is a
404 with no Location: a click link is never an open redirect. GET on the
unsubscribe link never unsubscribes, because security scanners fetch every
link of a message; only a POST with ``List-Unsubscribe=One-Click`` does.
HEAD on a pixel or click link answers like GET but records nothing, since
only scanners send it.

The daemon hands in plain callables, so this module never imports the
gateway: ``keys()`` (token keys by tenant, of the running configuration),
``record(event)`` (queues an ``Engagement``, never waits) and
``unsubscribe(tenant, address, source)`` (puts the address on the tenant's
suppression list before the 200). Behind a reverse proxy on the same host
(the peer is loopback), the client address is the last X-Forwarded-For hop.
"""

from __future__ import annotations

import logging
import re
import time
import urllib.parse
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from aiohttp import web

from admin import unsubscribe_page as page
from admin.clients import LOOPBACK, client_address
from policy.engagement import Engagement
from policy.links import split_ref, verify_for
from policy.tokens import BadToken, TokenData, TokenKeys

log = logging.getLogger("sluice.public")

Keys = Callable[[], Mapping[str, TokenKeys]]
Record = Callable[[Engagement], None]
Unsubscribe = Callable[[str, str, str], Awaitable[None]]

# The smallest transparent GIF: 1x1, one transparent colour.
GIF = bytes.fromhex(
    "47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b"
)
NO_CACHE = {
    "Cache-Control": "no-cache, no-store, must-revalidate, max-age=0",
    "Pragma": "no-cache",
    "Expires": "0",
}
ONE_CLICK = ("List-Unsubscribe", "One-Click")
_TOKEN = "{token:[A-Za-z0-9_-]+}"
# What a click may be sent on to: what the rewrite tracks, and nothing a header could split on.
_REDIRECTABLE = re.compile(r"https?://[\x21-\x7e]+", re.I)
# Non-ASCII and the few ASCII characters a Location header should not carry raw.
_URL_SAFE = "!#$%&'()*+,-./:;=?@[]_~"
_HTML = "text/html"


def client_ip(request: web.BaseRequest) -> str:
    # The public listener sits behind a local proxy when it has one.
    return client_address(request, LOOPBACK)


# A token fetched again by the same client (address and User-Agent) this soon is a
# replay (a reload, a proxy's retry, a script), not a second open or click: it is
# answered but counted once. Another agent on the same address (a scanner, then the
# reader) still counts: the bot rules need to see both.
REPLAY_WINDOW = 60.0


@dataclass
class ReplayGuard:
    """Which (token, client, agent) were counted within the last ``window`` seconds."""

    window: float
    max_entries: int = 100_000
    _seen: OrderedDict[tuple[str, str, str], float] = field(default_factory=OrderedDict)

    def first(self, token: str, client: str, agent: str, now: float) -> bool:
        """True the first time a fetch is seen within the window (and remembers it)."""
        while self._seen:
            oldest = next(iter(self._seen.values()))
            if oldest > now - self.window and len(self._seen) < self.max_entries:
                break
            self._seen.popitem(last=False)
        key = (token, client, agent[:200])
        if key in self._seen:
            return False
        self._seen[key] = now
        return True


class _Endpoints:
    def __init__(
        self,
        keys: Keys,
        record: Record,
        unsubscribe: Unsubscribe,
        clock: Callable[[], float],
        replays: ReplayGuard,
    ) -> None:
        self.keys = keys
        self.record = record
        self.unsubscribe = unsubscribe
        self.clock = clock
        self.replays = replays

    def _verify(self, request: web.Request, kind: str) -> TokenData | None:
        try:
            return verify_for(self.keys(), request.match_info["token"], kind)
        except BadToken:
            return None

    def _event(self, kind: str, data: TokenData, request: web.Request, reason: str = "") -> None:
        client = client_ip(request)
        agent = request.headers.get("User-Agent", "")
        token = request.match_info["token"]
        if kind != "unsubscribe" and not self.replays.first(token, client, agent, self.clock()):
            return
        job, message_id = split_ref(data.message_id)
        self.record(
            Engagement(
                kind=kind,
                tenant=data.tenant,
                job=job,
                message_id=message_id,
                recipient=data.recipient,
                link_index=data.link_index,
                url=data.url or "",
                ip=client,
                user_agent=agent,
                at=self.clock(),
                sent_at=float(data.issued_at),
                reason=reason,
            )
        )

    async def open(self, request: web.Request) -> web.Response:
        data = self._verify(request, "open")
        if data is None:
            return web.Response(status=404, text="not found\n")
        if request.method == "GET":
            self._event("open", data, request)
        return web.Response(body=GIF, content_type="image/gif", headers=NO_CACHE)

    async def click(self, request: web.Request) -> web.Response:
        data = self._verify(request, "click")
        target = urllib.parse.quote(data.url, safe=_URL_SAFE) if data and data.url else ""
        if data is None or not _REDIRECTABLE.fullmatch(target):
            return web.Response(status=404, text="not found\n")
        if request.method == "GET":
            self._event("click", data, request)
        return web.Response(status=302, headers={"Location": target, **NO_CACHE})

    async def unsubscribe_page(self, request: web.Request) -> web.Response:
        lang = page.language(request.headers.get("Accept-Language", ""))
        data = self._verify(request, "unsubscribe")
        if data is None or not data.recipient:
            return web.Response(status=404, text=page.invalid(lang), content_type=_HTML)
        return web.Response(
            text=page.ask(lang, data.recipient), content_type=_HTML, headers=NO_CACHE
        )

    async def unsubscribe_post(self, request: web.Request) -> web.Response:
        lang = page.language(request.headers.get("Accept-Language", ""))
        data = self._verify(request, "unsubscribe")
        if data is None or not data.recipient:
            return web.Response(status=404, text=page.invalid(lang), content_type=_HTML)
        form = await request.post()
        if form.get(ONE_CLICK[0]) != ONE_CLICK[1]:
            return web.Response(status=400, text="expected List-Unsubscribe=One-Click\n")
        try:
            await self.unsubscribe(data.tenant, data.recipient, "link")
        except Exception:
            # Nothing was suppressed: say so, so the mailbox provider or the reader tries again.
            log.exception("unsubscribe failed tenant=%s", data.tenant)
            return web.Response(status=503, text=page.failed(lang), content_type=_HTML)
        via = "page" if form.get("via") == "page" else "one_click"
        self._event("unsubscribe", data, request, reason=via)
        return web.Response(text=page.done(lang, data.recipient), content_type=_HTML)


async def healthz(request: web.Request) -> web.Response:
    """The process is alive and its event loop answers."""
    return web.json_response({"status": "ok"})


def make_public_app(
    keys: Keys,
    record: Record,
    unsubscribe: Unsubscribe,
    *,
    clock: Callable[[], float] = time.time,
    replay_window: float = REPLAY_WINDOW,
) -> web.Application:
    """The aiohttp application of the public listener; ``clock`` stamps the events."""
    # A one-click body is 26 bytes; nothing here needs aiohttp's 1 MiB default.
    app = web.Application(client_max_size=16 * 1024)
    ends = _Endpoints(keys, record, unsubscribe, clock, ReplayGuard(replay_window))
    app.router.add_get(f"/t/o/{_TOKEN}.gif", ends.open)
    app.router.add_get(f"/t/c/{_TOKEN}", ends.click)
    app.router.add_get(f"/t/u/{_TOKEN}", ends.unsubscribe_page)
    app.router.add_post(f"/t/u/{_TOKEN}", ends.unsubscribe_post)
    app.router.add_get("/healthz", healthz)
    return app
