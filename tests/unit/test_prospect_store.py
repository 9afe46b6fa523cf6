"""Prospects and the enrollment settings in both stores: SQLite and PostgreSQL."""

from __future__ import annotations

from policy.enrollment import prospects as pr
from policy.enrollment.prospects import Decision


def parsed(items, source="scraper"):
    out = []
    for item in items:
        p, reason = pr.parse("acme", item, source)
        assert p is not None, reason
        out.append(p)
    return out


ITEMS = [
    {"email": "ann@ann-cuisine.fr", "name": "Ann Martin", "domain": "www.ann-cuisine.fr",
     "language": "fr", "score": 80, "tier": 1, "category": "blogger"},
    {"email": "bob@bob.example", "first_name": "Bob", "custom": {"blog": "Bob's"}},
]  # fmt: skip


async def ingest(store, items, mx="ok"):
    ps = parsed(items)
    rows = [pr.row_of(p, mx, 10.0) for p in ps]
    return await store.ingest_prospects("acme", ps, rows)


async def test_ingest_creates_then_is_unchanged_then_updates(store):
    assert await ingest(store, ITEMS) == ["created", "created"]
    ann = await store.contact("acme", "ann@ann-cuisine.fr")
    assert (ann.first_name, ann.last_name, ann.source) == ("Ann", "Martin", "scraper")
    assert ann.custom["website"] == "ann-cuisine.fr"
    row = await store.prospect("acme", "ann@ann-cuisine.fr")
    assert (row.site, row.mx, row.status, row.role, row.disposable) == (
        "ann-cuisine.fr", "ok", "ready", False, False,
    )  # fmt: skip
    before = ann.updated
    # The same batch again: nothing is written.
    assert await ingest(store, ITEMS) == ["unchanged", "unchanged"]
    assert (await store.contact("acme", "ann@ann-cuisine.fr")).updated == before
    # Decided, then posted changed: enrolled stays enrolled, blocked is ready again.
    await store.decide_prospects(
        "acme",
        [Decision("ann@ann-cuisine.fr", "enrolled", scenario="intro"),
         Decision("bob@bob.example", "blocked", "score: no score")],
        20.0,
    )  # fmt: skip
    changed = [{**ITEMS[0], "score": 90}, {**ITEMS[1], "score": 70}]
    assert await ingest(store, changed) == ["updated", "updated"]
    ann_row = await store.prospect("acme", "ann@ann-cuisine.fr")
    assert (ann_row.status, ann_row.scenario, ann_row.decided) == ("enrolled", "intro", 20.0)
    bob_row = await store.prospect("acme", "bob@bob.example")
    assert (bob_row.status, bob_row.reason, bob_row.decided) == ("ready", "", None)
    assert (await store.contact("acme", "ann@ann-cuisine.fr")).score == 90


async def test_a_contact_that_existed_is_updated_and_keeps_do_not_contact(store):
    await ingest(store, ITEMS[1:])
    await store.set_contact_status("acme", "bob@bob.example", "do_not_contact")
    first = parsed(ITEMS[:1])
    assert await store.upsert_contacts("acme", [first[0].contact]) == ["created"]
    assert await ingest(store, [ITEMS[0], {**ITEMS[1], "score": 5}]) == ["updated", "updated"]
    assert (await store.contact("acme", "bob@bob.example")).status == "do_not_contact"


async def test_ready_decide_counts_requeue(store):
    items = [{"email": f"p{i}@site{i}.example"} for i in range(5)]
    await ingest(store, items)
    ready = await store.ready_prospects("acme", ["ready"], 3)
    assert [p.email for p in ready] == ["p0@site0.example", "p1@site1.example", "p2@site2.example"]
    await store.decide_prospects(
        "acme",
        [Decision("p0@site0.example", "enrolled", scenario="s"),
         Decision("p1@site1.example", "blocked", "tier: no tier"),
         Decision("p2@site2.example", "dry_run", scenario="s"),
         Decision("p3@site3.example", "ready", "enrollment failed: boom", attempt=1)],
        100.0,
    )  # fmt: skip
    assert await store.prospect_counts("acme") == {
        "enrolled": 1, "blocked": 1, "dry_run": 1, "ready": 2,
    }  # fmt: skip
    assert (await store.prospect("acme", "p3@site3.example")).attempts == 1
    assert await store.decided_since("acme", "enrolled", 100.0) == 1
    assert await store.decided_since("acme", "enrolled", 100.5) == 0
    both = await store.ready_prospects("acme", ["ready", "dry_run"], 10)
    assert [p.email for p in both] == ["p2@site2.example", "p3@site3.example", "p4@site4.example"]
    assert await store.requeue_blocked("acme", 200.0) == 1
    assert await store.requeue_blocked("acme", 200.0) == 0
    assert await store.prospect_counts("other") == {}


async def test_enrollment_settings_are_kept_per_tenant(store):
    assert await store.enrollment_settings("acme") is None
    await store.save_enrollment_settings("acme", '{"enabled": true}', "admin", 1.0)
    await store.save_enrollment_settings("acme", '{"enabled": false}', "ops", 2.0)
    assert await store.enrollment_settings("acme") == '{"enabled": false}'
    assert await store.enrollment_settings("beta") is None


async def test_many_prospects_in_one_batch(store):
    items = [{"email": f"p{i}@s{i}.example"} for i in range(1200)]
    assert set(await ingest(store, items)) == {"created"}
    assert set(await ingest(store, items)) == {"unchanged"}
    assert (await store.prospect_counts("acme"))["ready"] == 1200


async def test_one_enrollment_turn_per_tenant_at_a_time(store):
    async with store.enrollment_turn("acme") as first:
        async with store.enrollment_turn("acme") as second, store.enrollment_turn("beta") as other:
            assert (first, second, other) == (True, False, True)
    async with store.enrollment_turn("acme") as again:
        assert again  # released when the first block ended
