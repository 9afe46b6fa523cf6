"""Prospects to first email, over real sockets: posted with an ingest key (MX answered by
a loopback DNS server), enrolled by the enrollment task, the first line written by the
local Anthropic API, the scenario's first email relayed through the pipeline to the sink
with that line in it."""

from __future__ import annotations

import email
import email.policy
import hashlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway import submit as submit_mod
from policy.enrollment import events as ev
from policy.scenarios.templates import Template, first_line_key
from policy.store.admin_sql import EventFilter
from scheduler.enrollment import Enrollment
from scheduler.personalization import Personalizer
from scheduler.scenarios import lifecycle, store_catalog
from scheduler.scenarios.engine import Engine
from tests.support.admin_api import serve_admin
from tests.support.anthropic_server import FakeAnthropic, default_line
from tests.support.dns_server import DnsServer
from tests.support.harness import config_text, start_gateway_from
from tests.support.sink import Sink

KEY = "crm-ingest-key-0123456789"
SCENARIO = {
    "name": "bloggers-fr",
    "from": "Anna <anna@acme-mail.com>",
    "filters": {"languages": ["fr"], "categories": ["blogger"]},
    "auto_enroll": {
        "tiers": [1, 2],
        "first_line": {
            "instruction": "Say you enjoyed their cooking blog.",
            "fallback": "J'espère que vous allez bien.",
        },
    },
    "steps": [{"id": "hello", "trigger": "entry", "template": "hello"}],
}
PROSPECTS = [
    {"email": "ann@ann-cuisine.fr", "name": "Ann Martin", "domain": "ann-cuisine.fr",
     "language": "fr", "category": "blogger", "country": "FR", "tier": 1, "score": 82,
     "custom": {"blog": "Cuisine de Lyon"}},
    {"email": "bob@gone.example", "language": "fr", "category": "blogger", "tier": 1,
     "score": 90},
    {"email": "low@ann-cuisine.fr", "language": "fr", "category": "blogger", "tier": 1,
     "score": 10},
]  # fmt: skip


@pytest.fixture
async def api() -> AsyncIterator[FakeAnthropic]:
    fake = FakeAnthropic()
    await fake.start()
    yield fake
    await fake.close()


def configuration(tmp_path: Path, sink: Sink, dns: DnsServer, api: FakeAnthropic) -> str:
    text = config_text(tmp_path, sink.port)
    digest = hashlib.sha256(KEY.encode()).hexdigest()
    tenant = (
        f'    ingest_keys: [{{name: crm, key_sha256: "{digest}"}}]\n'
        "    enrollment: {enabled: false, min_score: 50, max_tier: 3, languages: [fr]}\n"
    )
    text = text.replace("    sender_domains: [acme-mail.com]\n",
                        "    sender_domains: [acme-mail.com]\n" + tenant, 1)  # fmt: skip
    return text + (
        f'warmup: {{resolver: "127.0.0.1:{dns.port}"}}\n'
        f'ai: {{api_key: "${{E2E_ANTHROPIC_KEY}}", base_url: "{api.base_url}", max_retries: 0}}\n'
        "enrollment: {mx_timeout: 1, mx_budget: 3}\n"
    )


async def test_prospect_posted_enrolled_first_line_written_and_sent(
    tmp_path: Path, sink: Sink, api: FakeAnthropic, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("E2E_ANTHROPIC_KEY", "sk-ant-e2e-key")
    dns = await DnsServer({"ann-cuisine.fr": [(10, "mx.ann-cuisine.fr")]}).__aenter__()
    gw = await start_gateway_from(tmp_path, configuration(tmp_path, sink, dns, api))
    try:
        store, s = gw.store, gw.rt.settings
        text = "Bonjour {{ first_name }},\n\n{{ first_line }}\n\nAnna\n"
        await store.save_template(Template("acme", "hello", "Pour {{ first_name }}", text=text))
        await store.save_scenario("acme", "bloggers-fr", json.dumps(SCENARIO), None, None, 0.0)
        await lifecycle.act(store, "acme", "bloggers-fr", "start", 0.0)
        async with serve_admin(s, store) as admin:
            async with admin.session(None) as scraper:
                r = await scraper.post("/api/prospects/acme", json={"prospects": PROSPECTS},
                                       headers={"X-Api-Key": KEY})  # fmt: skip
                assert r.status == 200, await r.text()
                got = [i["result"] for i in (await r.json())["items"]]
                assert got == ["created", "invalid", "created"]  # gone.example: no MX
            async with admin.session("admin") as ops:
                r = await ops.put("/api/enrollment/acme", json={"enabled": True, "dry_run": False})
                assert r.status == 200, await r.text()

            personalizer = Personalizer(s.ai, store)
            task = Enrollment(store, lambda: s, store_catalog.build(store), personalizer)
            reports = {r.tenant: r for r in await task.round()}
            await personalizer.aclose()
            assert reports["acme"].counts == {"enrolled": 1, "blocked": 1}

            ann = await store.contact("acme", "ann@ann-cuisine.fr")
            line = default_line({})
            assert ann.custom[first_line_key("hello")] == line
            assert api.count("POST", "/v1/messages") == 1  # one line, asked once

            engine = Engine(store, submit_mod.build(lambda: gw.rt), store_catalog.build(store),
                            lambda: gw.rt.settings)  # fmt: skip
            await engine.burst()
            [sent] = sink.by_recipient("ann@ann-cuisine.fr")
            message = email.message_from_bytes(sent.data, policy=email.policy.default)
            body = message.get_body(("plain",)).get_content()
            assert "Bonjour Ann," in body and line in body
            assert sink.by_recipient("low@ann-cuisine.fr") == []

            async with admin.session("viewer") as viewer:
                state = await (await viewer.get("/api/enrollment/acme")).json()
                assert state["enrolled_last_hour"] == 1 and state["enrolled_today"] == 1
                r = await viewer.get("/api/events", params={"tenant": "acme"})
                kinds = {(e["kind"], e["recipients"][0]) for e in (await r.json())["items"]}
            assert (ev.ENROLLED, "ann@ann-cuisine.fr") in kinds
            assert (ev.ENROLLMENT_BLOCKED, "low@ann-cuisine.fr") in kinds
            blocked = await store.event_page(
                EventFilter(kinds=(ev.ENROLLMENT_BLOCKED,)), 1 << 62, 10
            )
            assert blocked[0]["detail"]["reason"] == "score: score 10 is below 50"
    finally:
        await gw.close()
        await dns.__aexit__(None, None, None)
