"""Bodies the admin listener refuses before reading them whole: size, nesting, chunked forms."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import aiohttp
import pytest

import conf
from admin.app import MAX_BODY
from tests.support.admin_api import TOKENS, serve_admin, with_tokens


@pytest.fixture
def store_url(sqlite_url: str) -> str:
    return sqlite_url  # the limits are the listener's, not the store's


def settings() -> conf.Settings:
    text = "tenants: []\npools: {}\n"
    return with_tokens(conf.parse(text, environ={}))


async def chunks(total: int, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    """A body sent with Transfer-Encoding: chunked (no Content-Length to check)."""
    yield b"token=" + b"x" * (size - 6)
    sent = size
    while sent < total:
        yield b"x" * size
        sent += size


async def test_a_57_mb_json_body_is_refused_quickly(store):
    huge = b'{"addresses": ["' + b"a" * (57 * 1024 * 1024) + b'"]}'
    async with serve_admin(settings(), store) as server, server.session("operator") as op:
        started = time.monotonic()
        try:
            r = await op.post("/api/suppression", data=huge, headers={"Content-Type": "x/json"})
            status = r.status
            r.close()  # the rest of the body is not wanted: do not leave it to linger
        except (aiohttp.ClientOSError, aiohttp.ServerDisconnectedError):
            status = 413  # the server answered and closed while the body was still going
        assert status == 413
        assert time.monotonic() - started < 5
        # A body that is too deep for the parser is bad input (400), never a 500.
        r = await op.post("/api/suppression", data=b"[" * 200_000)
        assert (r.status, (await r.json())["error"]["code"]) == (400, "invalid_json")
        # Just under the cap is read and judged on its content.
        r = await op.post("/api/suppression", data=b" " * (MAX_BODY - 10) + b"{}")
        assert r.status == 422


async def test_a_chunked_login_form_over_the_cap_is_refused(store):
    async with (
        serve_admin(settings(), store) as server,
        aiohttp.ClientSession(base_url=server.url) as http,
    ):
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        r = await http.post("/login", data=chunks(1024 * 1024), headers=form, allow_redirects=False)
        assert r.status == 413
        assert r.headers["X-Frame-Options"] == "DENY"
        r = await http.post("/login", data={"token": TOKENS["viewer"]}, allow_redirects=False)
        assert r.status == 303  # a form of ordinary size still signs in
