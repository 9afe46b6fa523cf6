"""AI first lines against a local Anthropic API: singles, cache, batches, retries, fallbacks."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from conf.schema import EnvText
from conf.schema.ai import AiSettings
from policy.personalization import budget
from policy.personalization.lines import API, BUDGET, CHECK, NO_KEY
from policy.personalization.prompt import Brief
from policy.scenarios import templates
from policy.scenarios.contacts import Contact
from policy.store import open_store
from scheduler.personalization import Personalizer
from tests.support.anthropic_server import FakeAnthropic

KEY = "sk-ant-test-0123456789abcdef-SECRET"
BRIEF = Brief("intro", "Say you enjoyed their blog about cooking.", "J'espère que vous allez bien.")
ANN = Contact("acme", "ann@ann-cuisine.fr", "Ann", language="fr", category="blogger",
              custom={"blog": "Cuisine de Lyon"})  # fmt: skip
NOW = 1_700_000_000.0


def per_name(body: dict[str, Any]) -> str:
    """A line naming the contact, so a test can tell whose answer it is."""
    name = re.search(r"- first_name: (\S+)", body["messages"][0]["content"])
    assert name is not None
    return f"J'ai adoré votre blog de cuisine, {name.group(1)}, et ses recettes."


@pytest.fixture
async def api() -> AsyncIterator[FakeAnthropic]:
    fake = FakeAnthropic()
    await fake.start()
    yield fake
    await fake.close()


@pytest.fixture
async def db(sqlite_url) -> AsyncIterator[Any]:
    store = open_store(sqlite_url)
    await store.open()
    yield store
    await store.close()


def settings(api: FakeAnthropic | None, **kw: Any) -> AiSettings:
    base = {"api_key": EnvText(KEY), "base_url": api.base_url} if api else {}
    return AiSettings(**{"max_retries": 2, "timeout": 5.0, **base, **kw})


async def personalizer(api, db, **kw) -> Personalizer:
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    p = Personalizer(settings(api, **kw), db, clock=lambda: NOW, sleep=sleep)
    p.sleeps = sleeps  # type: ignore[attr-defined]
    return p


async def test_one_line_from_the_api_then_from_the_cache(api, db):
    p = await personalizer(api, db)
    line = await p.first_line(ANN, BRIEF)
    assert (line.source, line.reason, line.tokens) == ("ai", "", 60)
    assert line.text == "J'ai beaucoup aimé votre blog et la façon dont vous parlez de cuisine."
    method, path, headers, body = api.requests[0]
    # This SDK sends the key as a bearer token (anthropic/_client.py: _api_key_auth).
    assert (method, path, headers["authorization"]) == ("POST", "/v1/messages", f"Bearer {KEY}")
    assert body["model"] == "claude-haiku-5-5" and body["max_tokens"] == 150
    assert "Cuisine de Lyon" in body["messages"][0]["content"]
    assert await db.ai_tokens("acme", budget.day_of(NOW)) == 60
    # A re-enrollment (another process, a changed rating) costs nothing: no request.
    again = await (await personalizer(api, db)).first_line(
        Contact(**{**ANN.__dict__, "score": 12.0}), BRIEF
    )
    assert (again.source, again.text, again.tokens) == ("cache", line.text, 0)
    assert len(api.requests) == 1
    await p.aclose()


async def test_many_contacts_go_through_one_batch_matched_by_custom_id(api, db):
    api.write = per_name
    api.polls_to_end = 3
    api.fail_in_batch = lambda params: "first_name: Eve" in params["messages"][0]["content"]
    names = ["Ann", "Bob", "Cat", "Dan", "Eve"]
    people = [Contact("acme", f"{n.lower()}@x{i}.example", n, language="fr") for i, n in
              enumerate(names)]  # fmt: skip
    p = await personalizer(api, db, batch_threshold=3, batch_poll=7.0)
    lines = await p.first_lines(people, BRIEF)
    assert api.count("POST", "/v1/messages/batches") == 1
    assert api.count("POST", "/v1/messages") == 1  # the batch's POST, no single message
    assert p.sleeps == [7.0, 7.0]  # type: ignore[attr-defined]
    for person, line in zip(people[:4], lines[:4], strict=True):
        assert (line.email, line.source) == (person.email, "ai")
        assert f", {person.first_name}," in line.text  # its own answer, not another's
    assert (lines[4].source, lines[4].text) == ("fallback", BRIEF.fallback)
    assert lines[4].reason == f"{API}: the batch request errored"
    assert await db.ai_tokens("acme", budget.day_of(NOW)) == 4 * 60
    # The four good lines are cached; the failed one is asked again next time.
    again = await p.first_lines(people, BRIEF)
    assert [x.source for x in again] == ["cache"] * 4 + ["ai"]
    assert api.count("POST", "/v1/messages/batches") == 1


async def test_a_429_with_retry_after_then_success_is_retried_by_the_sdk(api, db):
    api.faults.extend([(429, 0.3), (529, 0.05)])
    started = time.monotonic()
    line = await (await personalizer(api, db)).first_line(ANN, BRIEF)
    assert line.source == "ai"
    assert api.count("POST", "/v1/messages") == 3
    assert time.monotonic() - started >= 0.35  # the server's retry-after, waited


async def test_an_api_that_keeps_failing_gives_the_fallback_with_the_reason(api, db):
    api.faults.extend([(500, 0.01)] * 3)
    line = await (await personalizer(api, db)).first_line(ANN, BRIEF)
    assert (line.source, line.text, line.reason) == ("fallback", BRIEF.fallback, f"{API}: HTTP 500")
    api.faults.append((400, None))  # a bad request is not retried
    before = api.count("POST", "/v1/messages")
    line = await (await personalizer(api, db)).first_line(ANN, BRIEF)
    assert line.reason == f"{API}: HTTP 400" and api.count("POST", "/v1/messages") == before + 1
    api.faults.append(("malformed", None))
    line = await (await personalizer(api, db, max_retries=0)).first_line(ANN, BRIEF)
    assert line.source == "fallback" and line.reason.startswith(API)
    api.faults.append(("slow", 1.0))
    line = await (await personalizer(api, db, max_retries=0, timeout=0.3)).first_line(ANN, BRIEF)
    assert (line.source, line.reason) == ("fallback", f"{API}: timed out")
    assert await db.cached_first_lines("acme", [line.key]) == {}


async def test_an_api_that_is_down_gives_the_fallback(db, unused_tcp_port):
    s = settings(None, api_key=EnvText(KEY), base_url=f"http://127.0.0.1:{unused_tcp_port}")
    p = Personalizer(s.model_copy(update={"max_retries": 0}), db)
    line = await p.first_line(ANN, BRIEF)
    assert (line.source, line.reason) == ("fallback", f"{API}: unreachable")


async def test_no_key_gives_the_fallback_and_no_request(api, db):
    p = Personalizer(AiSettings(base_url=api.base_url), db)
    assert p.client is None
    line = await p.first_line(ANN, BRIEF)
    assert (line.source, line.text, line.reason) == ("fallback", BRIEF.fallback, NO_KEY)
    assert api.requests == []


async def test_a_spent_budget_stops_the_calls(api, db):
    p = await personalizer(api, db, daily_token_budget=1000)
    await db.add_ai_tokens("acme", budget.day_of(NOW), 1000)
    line = await p.first_line(ANN, BRIEF)
    assert (line.source, line.reason) == ("fallback", BUDGET)
    assert api.requests == []
    # What is left admits some requests of a group, in order, and no more.
    p = await personalizer(api, db, daily_token_budget=1000, max_tokens=300)
    people = [Contact("acme", f"p{i}@x.example", f"P{i}", language="fr") for i in range(3)]
    lines = await p.first_lines(people, BRIEF)
    assert [x.source for x in lines] == ["fallback"] * 3  # 1000 already spent today
    p = await personalizer(api, db, daily_token_budget=1800, max_tokens=300)
    lines = await p.first_lines(people, BRIEF)
    assert [x.source for x in lines] == ["ai", "fallback", "fallback"]


async def test_a_line_that_fails_its_check_falls_back_and_is_not_cached(api, db):
    api.write = lambda body: "Découvrez nos outils sur https://tools.example dès maintenant !"
    p = await personalizer(api, db)
    line = await p.first_line(ANN, BRIEF)
    assert line.source == "fallback" and line.reason.startswith(f"{CHECK}: a link")
    assert line.tokens == 60 and await db.ai_tokens("acme", budget.day_of(NOW)) == 60
    api.write = lambda body: "Votre blog m'a beaucoup plu, ses recettes sont superbes…"
    cut = await p.first_line(ANN, BRIEF)
    assert cut.reason == f"{CHECK}: the answer stopped early (max_tokens)"
    assert api.count("POST", "/v1/messages") == 2


async def test_the_key_never_appears_in_the_logs(api, db, caplog):
    caplog.set_level(logging.DEBUG)
    api.faults.extend([(429, 0.01), (500, 0.01), (500, 0.01), (500, 0.01)])
    p = await personalizer(api, db)
    await p.first_line(ANN, BRIEF)  # a retry, then a failure
    await p.first_line(ANN, BRIEF)  # a success
    logging.getLogger("test").info("settings: %r", p.settings)
    assert caplog.records, "the SDK and Sluice log at debug"
    assert KEY not in caplog.text
    assert KEY not in repr(p.settings) and KEY not in str(p.settings)


async def test_stored_lines_are_the_templates_first_line(store, api, monkeypatch):
    await store.upsert_contacts("acme", [ANN, Contact("acme", "bob@b.example", "Bob")])
    events: list[tuple[str, ...]] = []
    real = store.add_contact_event

    async def spy(tenant, email, kind, detail, at):
        events.append((email, kind, detail))
        await real(tenant, email, kind, detail, at)

    monkeypatch.setattr(store, "add_contact_event", spy)
    p = await personalizer(api, store)
    bob = await store.contact("acme", "bob@b.example")
    api.write = lambda body: "Hi"  # too short: the fallback
    lines = await p.write_first_lines([bob], BRIEF)
    api.write = FakeAnthropic.write
    lines += await p.write_first_lines([ANN], BRIEF)
    assert [x.source for x in lines] == ["fallback", "ai"]
    assert events[0] == ("bob@b.example", "first_line", f"intro: fallback ({lines[0].reason})")
    assert events[1] == ("ann@ann-cuisine.fr", "first_line", "intro: ai")
    ann = await store.contact("acme", "ann@ann-cuisine.fr")
    assert ann.custom["first_line:intro"] == lines[1].text
    t = templates.Template("acme", "intro", "Hello", text="{{ first_line }}\n\nOur tools...")
    assert templates.check(t) == []
    values = templates.contact_values(ann, {}, "intro")
    assert templates.render(t, values).text.startswith(lines[1].text)
    # Another template has no line: its default applies.
    other = templates.Template("acme", "other", "Hi", text='{{ first_line | default("Hello!") }}')
    assert templates.render(other, templates.contact_values(ann, {}, "other")).text == "Hello!"
