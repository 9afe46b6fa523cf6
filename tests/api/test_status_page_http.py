"""The status page's sessions over plain HTTP: cookies, sign-out, revoked tokens, refusals."""

from __future__ import annotations

import re

import aiohttp

import conf
from admin.status_page import COOKIE
from tests.support.admin_api import TOKENS, serve_admin, with_tokens

IP = "192.0.2.10"


def settings() -> conf.Settings:
    return conf.parse(
        f"""
tenants:
  - {{name: acme, pool: acme, trusted_networks: [127.0.0.1/32], sender_domains: [a.example]}}
pools:
  acme: [{{ip: {IP}, vmta: acme-1, hostname: h1}}]
""",
        environ={},
    )


async def _sign_in(http: aiohttp.ClientSession, role: str, **headers: str) -> tuple[str, str]:
    """The session id and the CSRF secret of a fresh sign-in."""
    r = await http.post(
        "/login", data={"token": TOKENS[role]}, headers=headers, allow_redirects=False
    )
    assert (r.status, r.headers["Location"]) == (303, "/")
    sid = r.cookies[COOKIE].value
    assert not r.cookies[COOKIE]["secure"]  # plain HTTP
    page = await (await http.get("/", headers={"Cookie": f"{COOKIE}={sid}"})).text()
    csrf = re.search(r'name="csrf" value="([^"]+)"', page)
    assert csrf is not None
    return sid, csrf.group(1)


async def test_sessions_end_on_sign_out_and_with_their_token(store):
    async with (
        serve_admin(settings(), store) as server,
        aiohttp.ClientSession(base_url=server.url, cookie_jar=aiohttp.DummyCookieJar()) as http,
    ):
        r = await http.get("/", allow_redirects=False)
        assert (r.status, r.headers["Location"]) == (303, "/login")
        assert r.headers["X-Frame-Options"] == "DENY"  # redirects carry the headers too

        # Behind a TLS proxy the cookie is Secure; on plain HTTP it is not.
        r = await http.post(
            "/login",
            data={"token": TOKENS["viewer"]},
            headers={"X-Forwarded-Proto": "https"},
            allow_redirects=False,
        )
        morsel = r.cookies[COOKIE]
        assert (morsel["secure"], morsel["httponly"], morsel["samesite"]) == (True, True, "Strict")
        assert morsel["path"] == "/"
        sid, csrf = await _sign_in(http, "operator")
        cookie = {"Cookie": f"{COOKIE}={sid}"}

        # Sign-out needs the CSRF field, then the old cookie no longer opens the page.
        r = await http.post("/logout", headers=cookie, allow_redirects=False)
        assert r.status == 403
        r = await http.post("/logout", data={"csrf": csrf}, headers=cookie, allow_redirects=False)
        assert (r.status, r.headers["Location"]) == (303, "/login")
        r = await http.get("/", headers=cookie, allow_redirects=False)
        assert r.headers["Location"] == "/login"

        # A token taken out of the configuration ends its sessions at once.
        sid, _ = await _sign_in(http, "operator")
        current = with_tokens(settings())
        kept = tuple(t for t in current.http.admin_tokens if t.name != "operator")
        fewer = current.http.model_copy(update={"admin_tokens": kept})
        server.ctx.settings = lambda: current.model_copy(update={"http": fewer})
        r = await http.get("/", headers={"Cookie": f"{COOKIE}={sid}"}, allow_redirects=False)
        assert r.headers["Location"] == "/login"


async def test_refused_changes_say_why_and_change_nothing(store):
    async with (
        serve_admin(settings(), store) as server,
        aiohttp.ClientSession(base_url=server.url, cookie_jar=aiohttp.DummyCookieJar()) as http,
    ):
        sid, csrf = await _sign_in(http, "operator")
        cookie = {"Cookie": f"{COOKIE}={sid}"}
        r = await http.post(
            "/ip", data={"csrf": csrf, "ip": IP, "action": "restart"}, headers=cookie
        )
        assert r.status == 400 and "Unknown action" in await r.text()
        # Not allowed in this state: the page comes back with the reason.
        r = await http.post("/ip", data={"csrf": csrf, "ip": IP, "action": "clear"}, headers=cookie)
        assert r.status == 200
        assert "cannot clear an IP that is warm" in await r.text()
        r = await http.post(
            "/ip", data={"csrf": csrf, "ip": "198.51.100.1", "action": "pause"}, headers=cookie
        )
        assert "no IP 198.51.100.1 in pools" in await r.text()
        r = await http.post(
            "/switch",
            data={"csrf": csrf, "kind": "pause", "tenant": "nobody", "turn": "on"},
            headers=cookie,
        )
        assert "no tenant &#39;nobody&#39;" in await r.text()  # escaped
        assert await store.ip_states() == {}
        assert await store.switches() == []
        assert await store.audit_entries() == []
        # Global switch on and off again, both audited.
        for turn in ("on", "off"):
            r = await http.post(
                "/switch",
                data={"csrf": csrf, "kind": "dry_run", "tenant": "", "turn": turn},
                headers=cookie,
            )
            assert f"Dry run is {turn} for every tenant." in await r.text()
        audit = [(e.action, e.target) for e in await store.audit_entries()]
        assert audit == [("switch.off", "dry_run:*"), ("switch.on", "dry_run:*")]
        assert await store.switches() == []
        r = await http.get("/static/status.css")
        assert r.content_type == "text/css" and "progress" in await r.text()
        assert (await http.get("/static/../app.py")).status == 404
