"""The status page in a real browser: sign-in, quota figures, actions, CSRF, roles, phones.

Debian's chromium driven headless by Playwright, against the admin app on a
loopback port. Screenshots land in test-output/ at the repository root.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest

import conf
from admin.status_page import COOKIE
from policy.counters.memory import MemoryCounters
from policy.events import Event
from policy.quota import operations
from policy.quota.selection import Planner
from policy.quota.states import IpState
from policy.store import open_store
from policy.switches import Switch
from tests.support import backends
from tests.support.admin_api import TOKENS, serve_admin

CHROMIUM = "/usr/bin/chromium"
OUTPUT = Path(__file__).resolve().parents[2] / "test-output"
NOW = datetime(2026, 3, 10, 14, 30, tzinfo=UTC)
WARMING, WARM, BETA_WARM, BETA_BAD = "192.0.2.10", "192.0.2.11", "192.0.2.20", "192.0.2.21"
HOSTILE = "<img src=x onerror=alert(1)>"
WAIT_MS = 5000  # the longest any one browser step may take


def _browser_ready() -> None:
    if not os.path.exists(CHROMIUM):
        backends.unavailable(
            f"{CHROMIUM} is missing (apt-get install chromium; scripts/test.sh does)"
        )
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        backends.unavailable("playwright is not installed (pip install -e '.[test]')")


def settings() -> conf.Settings:
    return conf.parse(
        f"""
http: {{auth_failure_limit: 3, auth_lockout: 60}}
tenants:
  - {{name: acme, pool: acme, trusted_networks: [127.0.0.1/32], sender_domains: [a.example]}}
  - {{name: beta, pool: beta, trusted_networks: [127.0.0.2/32], sender_domains: [b.example]}}
pools:
  acme:
    - {{ip: {WARMING}, vmta: acme-1, hostname: mta1.acme.example,
       warmup: {{started: "2026-03-06"}}}}
    - {{ip: {WARM}, vmta: acme-2, hostname: mta2.acme.example}}
  beta:
    - {{ip: {BETA_WARM}, vmta: beta-1, hostname: mta1.beta.example, daily_limit: 5000}}
    - {{ip: {BETA_BAD}, vmta: beta-2, hostname: mta2.beta.example}}
""",
        environ={},
    )


async def _reserve(counters: MemoryCounters, s: conf.Settings, ip: str, group: str, n: int):
    planner = Planner(s.warmup)
    pool = next(p for p, ips in s.pools.items() if any(i.ip == ip for i in ips))
    [candidate] = [c for c in planner.candidates(s.pools[pool], NOW, group) if c.ip.ip == ip]
    for _ in range(n):
        await counters.reserve(candidate.limits)


@pytest.fixture
async def prepared(sqlite_url) -> AsyncIterator[tuple]:
    _browser_ready()
    s = settings()
    store = open_store(sqlite_url)
    await store.open()
    counters = MemoryCounters()
    await _reserve(counters, s, WARMING, "google", 7)
    await _reserve(counters, s, WARMING, "microsoft", 3)
    await _reserve(counters, s, BETA_WARM, "default", 12)
    at = NOW.timestamp()
    await store.record(
        [
            Event("bounced", "acme", "dsn", "", ("bob@example.net",), ip=WARMING, at=at - 900,
                  reply="5.1.1 user unknown", provider="google"),
            Event("complained", "beta", "arf", "", ("ann@example.org",), ip=BETA_WARM,
                  at=at - 300, reply="abuse report", provider="microsoft"),
        ]
    )  # fmt: skip
    await operations.ip_action(
        s, store, BETA_BAD, "quarantine", actor="blocklist poller", now=NOW, detail=HOSTILE
    )
    await store.set_switch(Switch("dry_run", "beta", HOSTILE, "ops"))
    try:
        yield s, store, counters
    finally:
        await store.close()


async def _sign_in(page, url: str, role: str) -> None:
    await page.goto(url + "/")
    await page.fill("#token", TOKENS[role])
    await page.click("button[type=submit]")
    await page.wait_for_url(url + "/", timeout=WAIT_MS)


def _numbers(text: str) -> tuple[int, int | None]:
    """'10 / 200' -> (10, 200); '1,234 · no limit' -> (1234, None)."""
    found = [int(n.replace(",", "")) for n in re.findall(r"\d[\d,]*", text)]
    return (found[0], found[1] if len(found) > 1 else None)


async def test_status_page_in_a_browser(prepared):
    from playwright.async_api import async_playwright, expect

    s, store, counters = prepared
    OUTPUT.mkdir(exist_ok=True)
    shots = []
    async with (
        serve_admin(s, store, counters=counters, clock=lambda: NOW) as server,
        async_playwright() as pw,
    ):
        url = server.url
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            desk = await browser.new_context(viewport={"width": 1280, "height": 900})
            page = await desk.new_page()
            page.set_default_timeout(WAIT_MS)
            dialogs: list[str] = []

            async def accept(dialog) -> None:
                dialogs.append(dialog.message)
                await dialog.accept()

            page.on("dialog", accept)

            # No session: the page sends the browser to the sign-in form.
            await page.goto(url + "/")
            assert page.url == url + "/login"
            await page.fill("#token", "not-a-token")
            await page.click("button[type=submit]")
            await expect(page.locator(".notice.error")).to_contain_text("not valid")
            shots.append(OUTPUT / "status-page-login.png")
            await page.screenshot(path=str(shots[-1]))
            await _sign_in(page, url, "operator")
            cookie = next(c for c in await desk.cookies() if c["name"] == COOKIE)
            assert (cookie["httpOnly"], cookie["sameSite"], cookie["secure"]) == (
                True,
                "Strict",
                False,
            )

            # The figures shown are policy.quota.operations.quotas' own.
            [row] = [
                r
                for r in await operations.quotas(s, store, NOW, counters=counters, tenant="acme")
                if r.ip == WARMING
            ]
            ip_row = page.locator(f'tr[data-ip="{WARMING}"]')
            shown = {
                "daily": _numbers(await ip_row.locator('[data-quota="daily"] .nums').inner_text()),
                "hourly": _numbers(
                    await ip_row.locator('[data-quota="hourly"] .nums').inner_text()
                ),
            }
            for group in row.groups:
                cell = ip_row.locator(f'[data-quota="group:{group}"] .nums')
                shown[group] = _numbers(await cell.inner_text())
            expected = {"daily": (row.daily.used, row.daily.limit)}
            expected["hourly"] = (row.hourly.used, row.hourly.limit)
            expected |= {g: (line.used, line.limit) for g, line in row.groups.items()}
            assert shown == expected
            assert (shown["daily"], shown["google"], shown["microsoft"]) == (
                (10, 200),
                (7, 80),
                (3, 80),
            )  # day 5 of the standard schedule
            await expect(ip_row.locator(".warmup")).to_contain_text("Day 5 of 42")
            beta = page.locator(f'tr[data-ip="{BETA_WARM}"] [data-quota="daily"] .nums')
            assert _numbers(await beta.inner_text()) == (12, 5000)
            # Operator input is text, never markup.
            assert await page.locator("img").count() == 0
            await expect(page.locator('[data-switch-state="dry_run:beta:on"]')).to_contain_text(
                HOSTILE
            )
            await expect(page.locator(f'tr[data-ip="{BETA_BAD}"]')).to_have_attribute(
                "data-state", "quarantined"
            )
            await expect(page.locator('tr[data-feedback="complained"]')).to_contain_text(
                "ann@example.org"
            )

            shots.append(OUTPUT / "status-page-desktop.png")
            await page.screenshot(path=str(shots[-1]), full_page=True)

            # Pause the warming IP: the browser asks first, the page then shows it paused.
            await ip_row.locator('button[data-action="pause"]').click()
            await expect(ip_row).to_have_attribute("data-state", "paused")
            assert dialogs == [f"Pause {WARMING}?"]
            await expect(page.locator(".notice.ok")).to_contain_text("warming → paused")
            assert (await store.ip_states())[WARMING].state is IpState.PAUSED
            entries = [(e.actor, e.action, e.target) for e in await store.audit_entries()]
            assert ("operator", "ip.pause", WARMING) in entries

            # The tenant's pause switch.
            await page.locator('button[data-switch="pause:acme"]').click()
            await expect(page.locator('[data-switch-state="pause:acme:on"]')).to_be_visible()
            assert len(dialogs) == 2 and "pause for tenant acme" in dialogs[1]
            assert ("pause", "acme") in {sw.key for sw in await store.switches()}
            entries = [(e.actor, e.action, e.target) for e in await store.audit_entries()]
            assert ("operator", "switch.on", "pause:acme") in entries
            shots.append(OUTPUT / "status-page-desktop-changed.png")
            await page.screenshot(path=str(shots[-1]), full_page=True)

            # A viewer sees the page without any button that changes something.
            view = await browser.new_context(viewport={"width": 1280, "height": 900})
            vpage = await view.new_page()
            vpage.set_default_timeout(WAIT_MS)
            await _sign_in(vpage, url, "viewer")
            await expect(vpage.locator(f'tr[data-ip="{WARMING}"]')).to_have_attribute(
                "data-state", "paused"
            )
            assert await vpage.locator('form[action="/ip"], form[action="/switch"]').count() == 0
            viewer_csrf = await vpage.locator(
                'form[action="/logout"] input[name=csrf]'
            ).get_attribute("value")
            viewer_sid = next(c["value"] for c in await view.cookies() if c["name"] == COOKIE)
            await view.close()

            # A phone: one column, nothing wider than the screen, thumb-sized buttons.
            phone = await browser.new_context(
                viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
            )
            ppage = await phone.new_page()
            ppage.set_default_timeout(WAIT_MS)
            await _sign_in(ppage, url, "operator")
            widths = await ppage.evaluate(
                "[document.documentElement.scrollWidth, window.innerWidth]"
            )
            assert widths[0] <= widths[1], widths
            heights = await ppage.locator("main button").evaluate_all(
                "bs => bs.map(b => b.getBoundingClientRect().height)"
            )
            assert heights and min(heights) >= 44, heights
            shots.append(OUTPUT / "status-page-phone.png")
            await ppage.screenshot(path=str(shots[-1]), full_page=True)
            await phone.close()
            operator_sid = next(c["value"] for c in await desk.cookies() if c["name"] == COOKIE)
        finally:
            await browser.close()

        # Forged posts change nothing: no CSRF field, a wrong one, or a viewer's own.
        async with aiohttp.ClientSession(base_url=url) as http:
            op = {"Cookie": f"{COOKIE}={operator_sid}"}
            for form in (
                {"ip": WARMING, "action": "resume"},
                {"ip": WARMING, "action": "resume", "csrf": "guess"},
            ):
                r = await http.post("/ip", data=form, headers=op, allow_redirects=False)
                assert r.status == 403, form
            r = await http.post(
                "/switch",
                data={"kind": "pause", "tenant": "", "turn": "on"},
                headers=op,
                allow_redirects=False,
            )
            assert r.status == 403
            r = await http.post(
                "/ip",
                data={"ip": WARMING, "action": "resume", "csrf": viewer_csrf},
                headers={"Cookie": f"{COOKIE}={viewer_sid}"},
                allow_redirects=False,
            )
            assert r.status == 403
            assert "changes need the operator role" in await r.text()
            assert (await store.ip_states())[WARMING].state is IpState.PAUSED
            assert ("pause", "") not in {sw.key for sw in await store.switches()}

            r = await http.get("/", headers=op, allow_redirects=False)
            assert r.status == 200
            assert "script-src 'self'" in r.headers["Content-Security-Policy"]
            assert "unsafe-inline" not in r.headers["Content-Security-Policy"]
            assert r.headers["X-Frame-Options"] == "DENY"
            assert r.headers["Referrer-Policy"] == "same-origin"
            assert r.headers["Cache-Control"] == "no-store"

            # Guessing tokens: after auth_failure_limit failures the form says to wait.
            statuses = []
            for _ in range(4):
                r = await http.post("/login", data={"token": "guess"}, allow_redirects=False)
                statuses.append(r.status)
            assert statuses == [403, 403, 403, 429]
            assert "Wait" in await r.text() and int(r.headers["Retry-After"]) > 0

    for shot in shots:
        assert shot.stat().st_size > 10_000
        print(f"screenshot: {shot}")
