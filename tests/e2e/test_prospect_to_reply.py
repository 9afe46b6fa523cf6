"""The prospecting flow in one run of the daemon: prospects posted with an ingest key, the
enrollment task enrolls the eligible one with a first line from the local Anthropic API,
the first email reaches the sink with that line and a reply address, the prospect's
reply comes back over SMTP to the inbound listener, the model calls it interested, the
sequence stops, and the stats, replies and events show each step."""

from __future__ import annotations

import email
import email.policy
import hashlib
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from policy.replies.prompt import SYSTEM as REPLY_SYSTEM
from tests.e2e.test_enrollment_flow import KEY, PROSPECTS, SCENARIO
from tests.e2e.test_replies_daemon import send_reply
from tests.e2e.test_scenario_stop_rules import TOKEN, ok, write_config
from tests.support.anthropic_server import FakeAnthropic, classify_reply, default_line
from tests.support.daemon import Daemon
from tests.support.dns_server import DnsServer
from tests.support.harness import make_keys
from tests.support.sink import Sink
from tests.support.wait import until

pytestmark = pytest.mark.slow
ANN = "ann@ann-cuisine.fr"
FLOW = {
    **SCENARIO,
    "stop_on": ["reply", "unsubscribe", "hard_bounce", "complaint"],
    "steps": [
        SCENARIO["steps"][0],
        {"id": "nudge", "parent": "hello", "trigger": "delay", "delay": "5s", "template": "hello"},
    ],
}


def model(body: dict[str, Any]) -> str:
    """One fake model for both jobs: a reply to classify, or a first line to write."""
    return classify_reply(body) if body.get("system") == REPLY_SYSTEM else default_line(body)


def configure(path: Path, dns: int, api: FakeAnthropic) -> None:
    digest = hashlib.sha256(KEY.encode()).hexdigest()
    tenant = (
        "    reply_domain: reply.acme-mail.com\n"
        f'    ingest_keys: [{{name: crm, key_sha256: "{digest}"}}]\n'
        "    enrollment: {enabled: false, min_score: 50, max_tier: 3, languages: [fr]}\n"
    )
    marker = "    bounce_domain: bounce.acme-mail.com\n"
    text = path.read_text().replace(marker, marker + tenant, 1)
    path.write_text(
        text + f'warmup: {{resolver: "127.0.0.1:{dns}"}}\n'
        f'ai: {{api_key: "${{ANTHROPIC_API_KEY:-}}", base_url: "{api.base_url}"}}\n'
        "enrollment: {interval: 0.3, mx_timeout: 1, mx_budget: 3}\n"
    )


async def set_up(api: aiohttp.ClientSession) -> None:
    text = "Bonjour {{ first_name }},\n\n{{ first_line }}\n\nAnna\n"
    template = {"name": "hello", "subject": "Pour {{ first_name }}", "text": text}
    await ok(await api.post("/api/templates/acme", json=template))
    await ok(await api.post("/api/scenarios/acme", json=FLOW))
    await ok(await api.post("/api/scenarios/acme/bloggers-fr/start"))


async def test_posted_enrolled_written_sent_replied_and_stopped(tmp_path: Path, sink: Sink):
    fake = FakeAnthropic(write=model)
    await fake.start()
    make_keys(tmp_path)
    path, ports = write_config(tmp_path, sink.port)
    dns = await DnsServer({"ann-cuisine.fr": [(10, "mx.ann-cuisine.fr")]}).__aenter__()
    configure(path, dns.port, fake)
    d = await Daemon.start(["run", "-c", str(path)], cwd=tmp_path, env={"ANTHROPIC_API_KEY": "k"})
    admin = f"http://127.0.0.1:{ports['admin']}"
    try:
        async with aiohttp.ClientSession(
            admin, headers={"Authorization": f"Bearer {TOKEN}"}
        ) as api:
            await set_up(api)
            async with aiohttp.ClientSession(admin, headers={"X-Api-Key": KEY}) as crm:
                got = await ok(await crm.post("/api/prospects/acme", json={"prospects": PROSPECTS}))
            assert [i["result"] for i in got["items"]] == ["created", "invalid", "created"]
            await ok(
                await api.put("/api/enrollment/acme", json={"enabled": True, "dry_run": False})
            )
            await until(lambda: sink.by_recipient(ANN), timeout=20, what="the first email")
            await ok(await api.post("/api/scenarios/acme/bloggers-fr/pause"))
            first = email.message_from_bytes(
                sink.by_recipient(ANN)[0].data, policy=email.policy.default
            )
            assert default_line({}) in first.get_body(("plain",)).get_content()
            address = first["Reply-To"].addresses[0].addr_spec
            reply = (
                f"From: Ann <{ANN}>\r\nTo: {address}\r\nSubject: Re: {first['Subject']}\r\n"
                f"In-Reply-To: {first['Message-ID']}\r\n\r\n"
                "Yes, I am interested! Tell me more.\r\n"
            )
            await send_reply(ports["inbound"], address, ANN, reply)

            async def classified() -> dict:
                got = await ok(await api.get("/api/replies/acme"))
                return got if got["items"] else {}

            replies = await until(classified, timeout=15, what="the reply classified")
            await ok(await api.post("/api/scenarios/acme/bloggers-fr/resume"))

            async def stopped() -> dict:
                stats = await ok(await api.get("/api/scenarios/acme/bloggers-fr/stats"))
                return stats if stats["stopped"] == 1 else {}

            stats = await until(stopped, timeout=20, what="the sequence stopped")

            async def recorded() -> dict:
                got = await ok(await api.get("/api/events", params={"tenant": "acme"}))
                return got if any(e["kind"] == "scenario_stopped" for e in got["items"]) else {}

            events = await until(recorded, timeout=15, what="the stop among the events")
        [r] = replies["items"]
        assert (r["email"], r["classification"], r["step"]) == (ANN, "interested", "hello")
        assert (stats["enrolled"], stats["stopped"], stats["active"]) == (1, 1, 0)
        assert stats["replies"] == {"hello": {"interested": 1}}
        kinds = [(e["kind"], e["recipients"][0]) for e in events["items"]]
        for seen in ("enrolled", "scenario_sent", "scenario_stopped"):
            assert (seen, ANN) in kinds, kinds
        assert ("enrollment_blocked", "low@ann-cuisine.fr") in kinds
        assert len(sink.by_recipient(ANN)) == 1  # the nudge never went
        # One first line and one classification: each asked of the model once.
        assert fake.count("POST", "/v1/messages") == 2
    finally:
        await d.stop()
        await fake.close()
        await dns.__aexit__(None, None, None)
