"""The operators' status page on the admin listener: IPs, quotas, feedback, kill switches.

A browser trades a bearer token (http.admin_tokens) for a server-side
session in the ``sluice_session`` cookie; the token itself never stays in the
browser. Every form carries the session's CSRF secret, which a cross-site
page cannot read: a POST without it changes nothing, whatever the browser's
cookie rules. Changes go through policy.quota.operations (the functions behind the
CLI and the API) and into the audit log under the token's name.
"""

from __future__ import annotations

import hmac
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web

from admin import api_dns_check, status_data, status_mailwizz
from admin.api import AdminContext, context
from admin.auth import Principal, Session, authenticate
from admin.clients import client_address
from policy import audit
from policy.quota import operations
from policy.quota.ipstate import IpStateError
from policy.quota.states import TransitionError
from policy.switches import GLOBAL, KINDS, SwitchError

log = logging.getLogger("sluice.admin.status")

COOKIE = "sluice_session"
_HERE = Path(__file__).parent
_STATIC = {
    "status.css": ("text/css", _HERE / "static" / "status.css"),
    "status.js": ("text/javascript", _HERE / "static" / "status.js"),
}
_HEADERS = {
    # Scripts and styles only from this origin (no inline code at all), forms only
    # to it, and never inside a frame: a click cannot be stolen.
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}
_MAX_FORM = 16 * 1024
REASON_MAX = 200  # characters of a reason typed with a change
_NOTICES = 1000  # one notice per session at most, the oldest dropped first

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(_HERE / "templates"),
    autoescape=True,  # tenant names, reasons and actors are operator input
    undefined=jinja2.StrictUndefined,
)


def _utc(value: float | datetime) -> datetime:
    at = value if isinstance(value, datetime) else datetime.fromtimestamp(value, UTC)
    return at.astimezone(UTC)


def _when(value: float | datetime) -> str:
    return _utc(value).strftime("%d %b %H:%M")


def _iso(value: float | datetime) -> str:
    """For <time datetime>, which status.js shows in the browser's own zone."""
    return _utc(value).isoformat(timespec="seconds")


def _number(value: int | None) -> str:
    return "\u2013" if value is None else f"{value:,}"


_env.filters["when"] = _when
_env.filters["iso"] = _iso
_env.filters["number"] = _number

NOTICES = web.AppKey("status_notices", OrderedDict)
Page = Callable[[web.Request], Awaitable[web.Response]]


def add_routes(app: web.Application) -> None:
    app[NOTICES] = OrderedDict()
    app.router.add_get("/", _guarded(_status))
    app.router.add_get("/login", _guarded(_login_form))
    app.router.add_post("/login", _guarded(_login))
    app.router.add_post("/logout", _guarded(_logout))
    app.router.add_post("/ip", _guarded(_ip_action))
    app.router.add_post("/switch", _guarded(_switch))
    app.router.add_get("/static/{name}", _guarded(_static))


def _guarded(handler: Page) -> Page:
    """The page's security headers on every answer, errors included."""

    async def wrapped(request: web.Request) -> web.Response:
        try:
            response = await handler(request)
        except web.HTTPException as exc:  # a refusal (413, ...), not a failure of ours
            response = _render("message.html", exc.status, title=exc.reason, text=exc.text or "")
        except Exception:
            log.exception("status page: %s %s failed", request.method, request.path)
            response = _render(
                "message.html", 500, title="Error", text="Internal error: see the daemon's log."
            )
        response.headers.update(_HEADERS)
        return response

    return wrapped


def _render(template: str, code: int = 200, /, **values: Any) -> web.Response:
    body = _env.get_template(template).render(**values)
    return web.Response(text=body, status=code, content_type="text/html", charset="utf-8")


def _redirect(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location})


def _forbidden(text: str) -> web.Response:
    return _render("message.html", 403, title="Forbidden", text=text)


# -- sessions ------------------------------------------------------------------


def _session(request: web.Request) -> tuple[str, Session] | None:
    """The request's session, while its token is still configured with the same role."""
    ctx = context(request)
    assert ctx.sessions is not None
    sid = request.cookies.get(COOKIE, "")
    found = ctx.sessions.get(sid) if sid else None
    if found is None:
        return None
    # A token removed from the configuration (or given another role) ends its sessions.
    tokens = ctx.settings().http.admin_tokens
    if not any((t.name, t.role) == (found.principal.name, found.principal.role) for t in tokens):
        ctx.sessions.end(sid)
        return None
    return sid, found


def _tls(request: web.Request) -> bool:
    forwarded = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
    return request.secure or forwarded == "https"


async def _form(request: web.Request) -> dict[str, str] | None:
    if request.content_length is not None and request.content_length > _MAX_FORM:
        raise web.HTTPRequestEntityTooLarge(_MAX_FORM, request.content_length)
    # A chunked body has no length to check first: the cap holds while reading.
    data = await request.clone(client_max_size=_MAX_FORM).post()
    return {k: v for k, v in data.items() if isinstance(v, str)}


def _csrf_ok(session: Session, form: dict[str, str]) -> bool:
    return hmac.compare_digest(form.get("csrf", "").encode(), session.csrf.encode())


def _notice(request: web.Request, sid: str, kind: str, text: str) -> None:
    notices = request.app[NOTICES]
    notices[sid] = (kind, text)
    notices.move_to_end(sid)
    while len(notices) > _NOTICES:
        notices.popitem(last=False)


# -- login ---------------------------------------------------------------------


async def _login_form(request: web.Request) -> web.Response:
    if _session(request) is not None:
        return _redirect("/")
    return _render("login.html", error="")


async def _login(request: web.Request) -> web.Response:
    ctx = context(request)
    assert ctx.limiter is not None and ctx.sessions is not None
    client = client_address(request, ctx.settings().http.trusted_proxies)
    wait = ctx.limiter.retry_after(client)
    if wait > 0:
        response = _render(
            "login.html", 429, error=f"Too many failed sign-ins. Wait {wait:.0f} s and try again."
        )
        response.headers["Retry-After"] = f"{wait:.0f}"
        return response
    form = await _form(request)
    token = (form or {}).get("token", "").strip()
    tokens = ctx.settings().http.admin_tokens
    found = authenticate(tokens, token) if token else None
    if found is None:
        if token:
            ctx.limiter.failed(client)
        error = (
            "That token is not valid."
            if tokens
            else "No tokens are configured (http.admin_tokens)."
        )
        return _render("login.html", 403, error=error if token else "Enter a token.")
    ctx.limiter.succeeded(client)
    old = request.cookies.get(COOKIE)
    if old:
        ctx.sessions.end(old)  # a fresh id at each sign-in: no fixation
    sid, _ = ctx.sessions.start(found)
    response = _redirect("/")
    response.set_cookie(
        COOKIE,
        sid,
        max_age=int(ctx.sessions.ttl),
        path="/",
        httponly=True,
        samesite="Strict",
        secure=_tls(request),
    )
    log.info("status page: %s (%s) signed in from %s", found.name, found.role, client)
    return response


async def _logout(request: web.Request) -> web.Response:
    current = _session(request)
    if current is None:
        return _redirect("/login")
    sid, session = current
    if not _csrf_ok(session, await _form(request) or {}):
        return _forbidden("The form was stale or forged (CSRF check failed). Reload the page.")
    sessions = context(request).sessions
    assert sessions is not None  # _session found one
    sessions.end(sid)
    response = _redirect("/login")
    response.del_cookie(COOKIE, path="/")
    return response


# -- the page ------------------------------------------------------------------


async def _status(request: web.Request) -> web.Response:
    current = _session(request)
    if current is None:
        return _redirect("/login")
    sid, session = current
    ctx = context(request)
    settings, now = ctx.settings(), ctx.clock()
    sync = None
    if settings.mailwizz is not None and ctx.mailwizz is not None:
        sync = status_mailwizz.line(ctx.mailwizz(), settings.mailwizz.interval, now)
    downstream = ctx.downstream() if ctx.downstream is not None else None
    check = request.app.get(api_dns_check.DNS_CHECK)
    dns = status_data.dns_card(check.last if check else None, settings.dns_check is not None)
    status = await status_data.gather(settings, ctx.store, now, ctx.counters, sync, downstream, dns)
    notice = request.app[NOTICES].pop(sid, None)
    return _render(
        "status.html",
        status=status,
        user=session.principal,
        operator=session.principal.can("operator"),
        csrf=session.csrf,
        notice=notice,
    )


async def _static(request: web.Request) -> web.Response:
    found = _STATIC.get(request.match_info["name"])
    if found is None:
        return _render("message.html", 404, title="Not found", text="No such file.")
    kind, path = found
    return web.Response(body=path.read_bytes(), content_type=kind, charset="utf-8")


# -- changes -------------------------------------------------------------------


async def _change(
    request: web.Request,
) -> tuple[str, Principal, dict[str, str]] | web.Response:
    """The session, principal and form of a change, or the answer refusing it."""
    current = _session(request)
    if current is None:
        return _redirect("/login")
    sid, session = current
    form = await _form(request)
    if form is None:
        return _render("message.html", 413, title="Too large", text="The form is too large.")
    if not _csrf_ok(session, form):
        return _forbidden("The form was stale or forged (CSRF check failed). Reload the page.")
    if not session.principal.can("operator"):
        who = session.principal
        return _forbidden(f"{who.name} is {who.role}: changes need the operator role.")
    return sid, session.principal, form


async def _ip_action(request: web.Request) -> web.Response:
    checked = await _change(request)
    if isinstance(checked, web.Response):
        return checked
    sid, who, form = checked
    ctx = context(request)
    ip, action = form.get("ip", ""), form.get("action", "")
    if action not in status_data.PAGE_ACTIONS:
        return _render("message.html", 400, title="Bad request", text=f"Unknown action {action!r}.")
    reason = _reason(form)
    try:
        change = await operations.ip_action(
            ctx.settings(), ctx.store, ip, action, actor=who.name, now=ctx.clock(), detail=reason
        )
    except (IpStateError, TransitionError) as exc:
        _notice(request, sid, "error", f"{ip}: {exc}")
        return _redirect("/")
    before = {"state": change.from_state.value, "day": change.from_day}
    after = {"state": change.to_state.value, "day": change.to_day, "reason": reason}
    await ctx.store.record_audit(audit.entry(who.name, f"ip.{action}", ip, before, after))
    _notice(request, sid, "ok", f"{ip}: {change.from_state.value} → {change.to_state.value}")
    return _redirect("/")


async def _switch(request: web.Request) -> web.Response:
    checked = await _change(request)
    if isinstance(checked, web.Response):
        return checked
    sid, who, form = checked
    ctx = context(request)
    kind, tenant, turn = form.get("kind", ""), form.get("tenant", ""), form.get("turn", "")
    if kind not in KINDS or turn not in ("on", "off"):
        return _render("message.html", 400, title="Bad request", text="Unknown switch.")
    try:
        await _flip(ctx, who, kind, tenant or None, turn == "on", _reason(form))
    except SwitchError as exc:
        _notice(request, sid, "error", str(exc))
        return _redirect("/")
    scope = f"tenant {tenant}" if tenant else "every tenant"
    label = "Pause" if kind == "pause" else "Dry run"
    _notice(request, sid, "ok", f"{label} is {turn} for {scope}.")
    return _redirect("/")


def _reason(form: Any) -> str:
    """The optional reason typed with a change, kept to one short line."""
    return " ".join(str(form.get("reason", "")).split())[:REASON_MAX]


async def _flip(
    ctx: AdminContext, who: Principal, kind: str, tenant: str | None, on: bool, reason: str = ""
) -> None:
    settings = ctx.settings()
    target = operations.switch_target(settings, tenant)
    before = next((s for s in await ctx.store.switches() if s.key == (kind, target)), None)
    if on:
        now = await operations.set_switch(
            settings, ctx.store, kind, tenant, actor=who.name, reason=reason
        )
        after: dict | None = {"reason": now.reason, "actor": now.actor}
    else:
        await operations.clear_switch(settings, ctx.store, kind, tenant)
        after = None
    was = {"reason": before.reason, "actor": before.actor} if before else None
    name = f"{kind}:{target}" if target != GLOBAL else f"{kind}:*"
    entry = audit.entry(who.name, f"switch.{'on' if on else 'off'}", name, was, after)
    await ctx.store.record_audit(entry)
