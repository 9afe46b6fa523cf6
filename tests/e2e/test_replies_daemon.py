"""Replies through the daemon as operators run it: scenario mail carries a reply address,
replies come back over real SMTP to the inbound listener, the model (a local Anthropic
server) classifies the human one, and the sequence stops (interested) or waits for the
return date (out of office); the replies API and the stats show both."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import aiosmtplib
import pytest

from tests.e2e.test_scenario_stop_rules import TOKEN, ok, write_config
from tests.support.anthropic_server import FakeAnthropic, classify_reply
from tests.support.daemon import Daemon
from tests.support.harness import make_keys
from tests.support.sink import Sink
from tests.support.wait import until

pytestmark = pytest.mark.slow
PEOPLE = ("hot@example.net", "away@example.net")
SCENARIO = {
    "name": "intro",
    "from": "Anna <anna@acme-mail.com>",
    "reply_to": "Anna Sales <sales@acme-mail.com>",
    "stop_on": ["reply", "unsubscribe"],
    "steps": [
        {"id": "intro", "trigger": "entry", "template": "intro"},
        {"id": "nudge", "parent": "intro", "trigger": "delay", "delay": "4s", "template": "nudge"},
    ],
}


def reply_to(raw: bytes) -> tuple[str, str]:
    m = email.message_from_bytes(raw, policy=email.policy.default)
    return m["Reply-To"].addresses[0].addr_spec, str(m["Message-ID"])


async def send_reply(port: int, rcpt: str, sender: str, data: str) -> None:
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=10, start_tls=False)
    await client.connect()
    await client.ehlo()
    assert (await client.mail(sender))[0] == 250
    forged = "reply+" + "a" * 44 + "@" + rcpt.partition("@")[2]  # the shape, not the MAC
    code = (await client.execute_command(f"RCPT TO:<{forged}>".encode())).code
    assert code == 550  # a token nobody signed: 550 5.1.1
    assert (await client.rcpt(rcpt))[0] == 250
    assert (await client.data(data.encode()))[0] == 250
    await client.quit()


async def test_an_interested_reply_stops_and_an_absence_waits(tmp_path: Path, sink: Sink):
    fake = FakeAnthropic(write=classify_reply)
    await fake.start()
    make_keys(tmp_path)
    path, ports = write_config(tmp_path, sink.port)
    text = path.read_text().replace(
        "    bounce_domain: bounce.acme-mail.com\n",
        "    bounce_domain: bounce.acme-mail.com\n    reply_domain: reply.acme-mail.com\n",
    )
    text += f'ai: {{api_key: "${{ANTHROPIC_API_KEY:-}}", base_url: "{fake.base_url}"}}\n'
    path.write_text(text)
    env = {"ANTHROPIC_API_KEY": "sk-test-replies"}
    d = await Daemon.start(["run", "-c", str(path)], cwd=tmp_path, env=env)
    admin = f"http://127.0.0.1:{ports['admin']}"
    back = datetime.now(UTC) + timedelta(days=10)
    try:
        async with aiohttp.ClientSession(
            admin, headers={"Authorization": f"Bearer {TOKEN}"}
        ) as api:
            people = [{"email": e, "first_name": e.split("@")[0].title()} for e in PEOPLE]
            await ok(await api.post("/api/contacts/acme", json={"contacts": people}))
            for name in ("intro", "nudge"):
                body = {"name": name, "subject": f"{name} for {{{{ first_name }}}}",
                        "text": f"Hello {{{{ first_name }}}}, {name}.\n"}  # fmt: skip
                await ok(await api.post("/api/templates/acme", json=body))
            await ok(await api.post("/api/scenarios/acme", json=SCENARIO))
            await ok(await api.post("/api/scenarios/acme/intro/start"))
            await ok(await api.post("/api/scenarios/acme/intro/enroll", json={"emails": PEOPLE}))
            await until(
                lambda: all(len(sink.by_recipient(e)) == 1 for e in PEOPLE),
                timeout=15, what="each intro at the sink",
            )  # fmt: skip
            await ok(await api.post("/api/scenarios/acme/intro/pause"))
            hot_to, hot_mid = reply_to(sink.by_recipient("hot@example.net")[0].data)
            away_to, _ = reply_to(sink.by_recipient("away@example.net")[0].data)
            assert hot_to.startswith("reply+") and hot_to.endswith("@reply.acme-mail.com")
            hot = (
                f"From: Hot <hot@example.net>\r\nTo: Anna Sales <{hot_to}>\r\n"
                f"Subject: Re: intro for Hot\r\nIn-Reply-To: {hot_mid}\r\n\r\n"
                "I am interested, tell me more!\r\n\r\nOn Monday, Anna wrote:\r\n> Hello Hot\r\n"
            )
            away = (
                f"From: Away <away@example.net>\r\nTo: {away_to}\r\n"
                "Subject: Out of office: intro for Away\r\nAuto-Submitted: auto-replied\r\n\r\n"
                f"I am out of the office, back on {back.day} {back:%B} {back.year}.\r\n"
            )
            await send_reply(ports["inbound"], hot_to, "hot@example.net", hot)
            await send_reply(ports["inbound"], away_to, "", away)

            async def both() -> dict:
                got = await ok(await api.get("/api/replies/acme"))
                return got if len(got["items"]) == 2 else {}

            replies = await until(both, timeout=15, what="both replies classified")
            await ok(await api.post("/api/scenarios/acme/intro/resume"))

            async def stopped() -> dict:
                stats = await ok(await api.get("/api/scenarios/acme/intro/stats"))
                return stats if stats["stopped"] == 1 else {}

            stats = await until(stopped, timeout=20, what="the interested contact stopped")
        by = {r["email"]: r for r in replies["items"]}
        assert (by["hot@example.net"]["classification"], by["hot@example.net"]["decided_by"]) == (
            "interested", "model",
        )  # fmt: skip
        assert by["hot@example.net"]["excerpt"] == "I am interested, tell me more!"
        assert by["away@example.net"]["classification"] == "out_of_office"
        resume = datetime(back.year, back.month, back.day, tzinfo=UTC).timestamp()
        assert by["away@example.net"]["return_at"] == resume
        assert fake.count("POST", "/v1/messages") == 1  # the rules read the absence
        assert (stats["enrolled"], stats["stopped"], stats["active"]) == (2, 1, 1)
        assert stats["replies"] == {"intro": {"interested": 1, "out_of_office": 1}}
        # Neither got the nudge: one stopped, the other waits for the day after its return.
        assert [len(sink.by_recipient(e)) for e in PEOPLE] == [1, 1]
    finally:
        await d.stop()
        await fake.close()
