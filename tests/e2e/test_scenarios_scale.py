"""1,000 contacts through a 7-day, 4-step scenario with a driven clock: each step once."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from gateway import submit as submit_mod
from scheduler.scenarios import lifecycle
from scheduler.scenarios.engine import Engine, EngineSettings
from tests.support.harness import config_text, start_gateway_from
from tests.support.scenarios import Clock, MemoryCatalog, save, template
from tests.support.sink import Sink

T0 = 1_780_000_000.0
BODY = {
    "name": "week",
    "from": "Anna <anna@acme-mail.com>",
    "steps": [
        {"id": "s1", "trigger": "entry", "template": "s1"},
        {"id": "s2", "parent": "s1", "trigger": "delay", "delay": "2d", "template": "s2"},
        {"id": "s3", "parent": "s2", "trigger": "not_opened", "delay": "2d", "template": "s3"},
        {"id": "s4", "parent": "s3", "trigger": "delay", "delay": "2d", "template": "s4"},
    ],
}


async def test_a_thousand_contacts_over_seven_days(tmp_path: Path, sink: Sink):
    sink.delay = 0
    gw = await start_gateway_from(tmp_path, config_text(tmp_path, sink.port))
    try:
        clock, catalog = Clock(T0), MemoryCatalog()
        catalog.templates = {n: template(n) for n in ("s1", "s2", "s3", "s4")}
        emails = [f"c{i:04d}@example.net" for i in range(1000)]
        catalog.add("acme", *emails)
        engine = Engine(
            gw.store, submit_mod.build(lambda: gw.rt), catalog, lambda: gw.rt.settings, clock,
            EngineSettings(batch=500, concurrency=32),
        )  # fmt: skip
        await save(gw.store, BODY)
        await lifecycle.act(gw.store, "acme", "week", "start", clock())
        done = await lifecycle.enroll(gw.store, catalog, "acme", "week", emails, clock())
        assert len(done.enrolled) == 1000
        for _ in range(7 * 4):  # seven days, six hours at a time
            await engine.run_until_idle()
            clock.advance(6 * 3600)
        await engine.run_until_idle()
        per_recipient = Counter(r for m in sink.messages for r in m.recipients)
        assert len(sink.messages) == 4000 and set(per_recipient.values()) == {1 * 4}
        assert await gw.store.enrollment_counts("acme", "week") == {"completed": 1000}
        await engine.round()
        assert (await gw.store.scenario("acme", "week")).status == "completed"
    finally:
        await gw.close()
