"""Stop rules through the daemon as operators run it: an unsubscribe by the real one-click
endpoint, a hard bounce by a real DSN to the inbound listener and a recorded reply each
end their contact's enrollment; the others go on; the events API shows each send and
decision."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import aiohttp
import aiosmtplib
import pytest

from admin.auth import digest
from tests.support import campaign as c
from tests.support.daemon import Daemon, free_port
from tests.support.feedback import dsn
from tests.support.harness import make_keys
from tests.support.sink import Sink
from tests.support.wait import until

pytestmark = pytest.mark.slow
TOKEN = "stop-rules-admin-token-0123456789abcdef"
SECRET = "verp-secret-stop-rules-0123456789"
PEOPLE = ("unsub@example.net", "bounce@example.net", "reply@example.net", "keep@example.net")
SCENARIO = {
    "name": "intro",
    "from": "Anna <anna@acme-mail.com>",
    "stop_on": ["reply", "unsubscribe", "hard_bounce", "complaint"],
    "steps": [
        {"id": "intro", "trigger": "entry", "template": "intro"},
        {"id": "nudge", "parent": "intro", "trigger": "delay", "delay": "6s", "template": "nudge"},
    ],
}


def write_config(folder: Path, sink_port: int) -> tuple[Path, dict[str, int]]:
    ports = {k: free_port() for k in ("smtp", "inbound", "admin", "public")}
    public = f"http://127.0.0.1:{ports['public']}"
    text = c.tracking_config(folder, sink_port, public).replace(
        '"127.0.0.1:0"', f'"127.0.0.1:{ports["smtp"]}"'
    )
    text = text.replace("smtp: {", f'smtp: {{inbound_listen: "127.0.0.1:{ports["inbound"]}", ', 1)
    text += (
        f'http: {{admin_listen: "127.0.0.1:{ports["admin"]}",'
        f' public_listen: "127.0.0.1:{ports["public"]}",\n'
        f'       admin_tokens: [{{name: ops, token_sha256: "{digest(TOKEN)}", role: admin}}]}}\n'
        f'feedback: {{verp_secrets: ["{SECRET}"], inbox: "{folder}/inbox", poll_interval: 0.1}}\n'
        "scenarios: {interval: 0.2}\n"
    )
    path = folder / "sluice.yaml"
    path.write_text(text)
    return path, ports


async def ok(response: aiohttp.ClientResponse) -> dict:
    assert response.status < 300, (response.status, await response.text())
    return await response.json()


async def set_up(api: aiohttp.ClientSession) -> None:
    people = [{"email": e, "first_name": e.split("@")[0].title()} for e in PEOPLE]
    await ok(await api.post("/api/contacts/acme", json={"contacts": people}))
    for name in ("intro", "nudge"):
        body = {
            "name": name,
            "subject": f"{name} for {{{{ first_name }}}}",
            "text": f"Hello {{{{ first_name }}}}, {name}.\n{{{{ unsubscribe_url }}}}\n",
        }
        await ok(await api.post("/api/templates/acme", json=body))
    await ok(await api.post("/api/scenarios/acme", json=SCENARIO))
    await ok(await api.post("/api/scenarios/acme/intro/start"))
    got = await ok(await api.post("/api/scenarios/acme/intro/enroll", json={"emails": PEOPLE}))
    assert sorted(got["enrolled"]) == sorted(PEOPLE)


async def bounce(inbound: int, verp_sender: str, recipient: str) -> None:
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=inbound, timeout=10, start_tls=False)
    await client.connect()
    await client.ehlo()
    assert (await client.execute_command(b"MAIL", b"FROM:<>")).code == 250
    assert (await client.rcpt(verp_sender))[0] == 250
    assert (await client.data(dsn(verp_sender, recipient)))[0] == 250
    await client.quit()


def counted(sink: Sink) -> Callable[[], dict[str, int]]:
    return lambda: {e: len(sink.by_recipient(e)) for e in PEOPLE}


async def stop_three(api: aiohttp.ClientSession, sink: Sink, inbound: int) -> None:
    """One-click unsubscribe, a DSN to the inbound listener, a recorded reply; then wait
    until the unsubscribe and the bounce are on the suppression list."""
    raw = sink.by_recipient("unsub@example.net")[0].data
    url, _ = c.list_unsubscribe(raw)
    async with aiohttp.ClientSession() as web:
        async with web.post(url, data={"List-Unsubscribe": "One-Click"}) as response:
            assert response.status == 200
    bounced = sink.by_recipient("bounce@example.net")[0]
    await bounce(inbound, bounced.mail_from, "bounce@example.net")
    event = {"kind": "replied", "detail": "Interested, call me"}
    await ok(await api.post("/api/contacts/acme/reply@example.net/events", json=event))

    async def suppressed() -> bool:
        got = await ok(await api.get("/api/suppression", params={"tenant": "acme"}))
        return {i["address"] for i in got["items"]} >= {
            "unsub@example.net",
            "bounce@example.net",
        }

    await until(suppressed, timeout=15, what="the unsubscribe and the bounce recorded")


async def test_unsubscribe_bounce_and_reply_stop_their_enrollments(tmp_path: Path, sink: Sink):
    make_keys(tmp_path)
    path, ports = write_config(tmp_path, sink.port)
    d = await Daemon.start(["run", "-c", str(path)], cwd=tmp_path)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    admin = f"http://127.0.0.1:{ports['admin']}"
    try:
        async with aiohttp.ClientSession(admin, headers=headers) as api:
            await set_up(api)
            await until(
                lambda: all(n == 1 for n in counted(sink)().values()),
                timeout=15, what="each intro at the sink",
            )  # fmt: skip
            # Pause while the three stops are made, so none races the 6 s delay.
            await ok(await api.post("/api/scenarios/acme/intro/pause"))
            await stop_three(api, sink, ports["inbound"])
            await ok(await api.post("/api/scenarios/acme/intro/resume"))
            await until(
                lambda: counted(sink)()["keep@example.net"] == 2,
                timeout=30, what="the nudge to the contact no rule stopped",
            )  # fmt: skip
            await until(
                lambda: api_stopped(api), timeout=15, what="three enrollments stopped by rule"
            )
            stats = await ok(await api.get("/api/scenarios/acme/intro/stats"))
            query = {"tenant": "acme", "kind": "scenario_sent,scenario_stopped,scenario_decision"}

            async def recorded() -> dict:
                got = await ok(await api.get("/api/events", params=query))
                return got if len(got["items"]) >= 9 else {}

            events = await until(recorded, timeout=15, what="5 sends, 1 decision, 3 stops")
        assert counted(sink)() == {
            "unsub@example.net": 1,
            "bounce@example.net": 1,
            "reply@example.net": 1,
            "keep@example.net": 2,
        }
        sent = sorted(e["recipients"][0] for e in events["items"] if e["kind"] == "scenario_sent")
        stopped = {
            e["recipients"][0]: e["reply"]
            for e in events["items"]
            if e["kind"] == "scenario_stopped"
        }
        assert sent == sorted([*PEOPLE, "keep@example.net"]), events
        decided = [e for e in events["items"] if e["kind"] == "scenario_decision"]
        assert [(e["recipients"], e["step"]) for e in decided] == [
            (["keep@example.net"], "decide:intro")
        ], decided
        assert stopped == {
            "unsub@example.net": "stop rule: unsubscribe",
            "bounce@example.net": "stop rule: hard_bounce",
            "reply@example.net": "stop rule: reply",
        }, events
        assert (stats["enrolled"], stats["stopped"], stats["active"]) == (4, 3, 0)
    finally:
        await d.stop()


async def api_stopped(api: aiohttp.ClientSession) -> bool:
    stats = await ok(await api.get("/api/scenarios/acme/intro/stats"))
    return bool(stats["stopped"] == 3)
