"""The engine on stored contacts and templates: what a scenario sends is the template
rendered for the contact, in its language; do_not_contact and bad data never send."""

from __future__ import annotations

from pathlib import Path

from gateway import submit as submit_mod
from policy.scenarios.contacts import Contact
from policy.scenarios.ledger import enrollment_id
from policy.scenarios.templates import Template
from scheduler.scenarios import lifecycle, store_catalog
from scheduler.scenarios.catalog import Catalog
from scheduler.scenarios.engine import Engine, EngineSettings
from tests.e2e.test_scenarios import NOW, POOL, T0
from tests.support.campaign import tracking_config
from tests.support.harness import Gateway, config_text, start_gateway_from, with_pools
from tests.support.scenarios import Clock, save
from tests.support.sink import Sink

BODY = {
    "name": "welcome",
    "from": "Anna <anna@acme-mail.com>",
    "steps": [{"id": "hello", "trigger": "entry", "template": "hello"}],
}


async def started(gw: Gateway, catalog: Catalog, clock: Clock) -> Engine:
    """The ``welcome`` scenario saved and started, and an engine on the stored catalog."""
    engine = Engine(
        gw.store, submit_mod.build(lambda: gw.rt), catalog, lambda: gw.rt.settings, clock,
        EngineSettings(),
    )  # fmt: skip
    await save(gw.store, BODY)
    assert await lifecycle.act(gw.store, "acme", "welcome", "start", clock()) == "active"
    return engine


async def test_stored_contacts_get_their_language_and_their_fields(tmp_path: Path, sink: Sink):
    tracked = tracking_config(tmp_path, sink.port, "https://t.acme-mail.com")
    text = with_pools(tracked, POOL.replace("{limit}", "1000"))
    gw = await start_gateway_from(tmp_path, text, clock=lambda: NOW)
    try:
        store = gw.store
        await store.upsert_contacts(
            "acme",
            [
                Contact("acme", "marie@example.net", "Marie", language="fr",
                        custom={"company": "Bâtiment SA"}),
                Contact("acme", "john@example.net", "John", language="en",
                        custom={"company": "Builders"}),
                Contact("acme", "nope@example.net", "Nope", status="do_not_contact"),
                Contact("acme", "noname@example.net", language="en"),
            ],
        )  # fmt: skip
        for language, greeting in (("", "Hello"), ("fr", "Bonjour")):
            await store.save_template(
                Template(
                    "acme", "hello", "[FNAME], about {{ custom.company }}",
                    html=f"<p>{greeting} {{{{ first_name }}}}</p>",
                    text=f"{greeting} {{{{ first_name }}}}\\n{{{{ unsubscribe_url }}}}\\n",
                    language=language,
                )
            )  # fmt: skip
        clock = Clock(T0)
        catalog = store_catalog.build(store)
        engine = await started(gw, catalog, clock)
        emails = ["marie@example.net", "john@example.net", "nope@example.net",
                  "noname@example.net"]  # fmt: skip
        done = await lifecycle.enroll(store, catalog, "acme", "welcome", emails, clock())
        assert sorted(done.enrolled) == ["john@example.net", "marie@example.net",
                                         "noname@example.net"]  # fmt: skip
        assert "nope@example.net" in dict(done.skipped)
        await engine.run_until_idle()
        [marie] = sink.by_recipient("marie@example.net")
        [john] = sink.by_recipient("john@example.net")
        assert b"Bonjour Marie" in marie.data and b"Hello John" in john.data
        assert b"Subject: Marie, about" in marie.data
        assert b"https://t.acme-mail.com/t/u/" in john.data  # the body's one-click link
        # The contact with no first name: that one send fails with the variable named.
        assert sink.by_recipient("noname@example.net") == []
        assert sink.by_recipient("nope@example.net") == []
        counts = await store.enrollment_counts("acme", "welcome")
        assert counts == {"completed": 2, "failed": 1}
        failed = await store.enrollment(enrollment_id("acme", "welcome", "noname@example.net"))
        assert "first_name" in failed.reason
    finally:
        await gw.close()


async def test_a_template_that_fails_on_one_contact_fails_that_send_with_the_reason(
    tmp_path: Path, sink: Sink
):
    """`{{ 100 / score }}` on a contact whose score is 0: that send fails, recorded; the
    others go; nothing is left claimed for the reaper to hand back for ever."""
    text = with_pools(config_text(tmp_path, sink.port), POOL.replace("{limit}", "1000"))
    gw = await start_gateway_from(tmp_path, text, clock=lambda: NOW)
    try:
        store = gw.store
        await store.upsert_contacts(
            "acme",
            [Contact("acme", "scored@example.net", score=4.0),
             Contact("acme", "zero@example.net", score=0.0)],
        )  # fmt: skip
        await store.save_template(
            Template("acme", "hello", "Hello", text="Your share: {{ 100 / score }}\n")
        )
        clock = Clock(T0)
        catalog = store_catalog.build(store)
        engine = await started(gw, catalog, clock)
        emails = ["scored@example.net", "zero@example.net"]
        await lifecycle.enroll(store, catalog, "acme", "welcome", emails, clock())
        await engine.run_until_idle()
        [scored] = sink.by_recipient("scored@example.net")
        assert b"Your share: 25.0" in scored.data
        assert sink.by_recipient("zero@example.net") == []
        assert await store.enrollment_counts("acme", "welcome") == {"completed": 1, "failed": 1}
        failed = await store.enrollment(enrollment_id("acme", "welcome", "zero@example.net"))
        assert "template hello: text: ZeroDivisionError" in failed.reason
        statuses = sorted(
            (status, n) for _, _, status, n in await store.op_counts("acme", "welcome")
        )
        assert statuses == [("executed", 1), ("failed", 1)]  # none pending, none held
    finally:
        await gw.close()
