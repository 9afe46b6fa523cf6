"""Contacts and templates in both stores: one contract, SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import replace

from policy.scenarios.contacts import Contact, ContactFilter, matches
from policy.scenarios.templates import Template

PEOPLE = [
    Contact("acme", "ann@a.example", "Ann", language="fr", country="FR", category="media",
            score=80, validation_score=95, deliverable=True, tags=("vip", "paris")),
    Contact("acme", "bob@b.example", "Bob", language="en", country="GB", category="blog",
            score=40, deliverable=False, tags=("vip_x",)),
    Contact("acme", "cat@a.example", "Cat", language="fr", category="blog", score=60,
            validation_score=70, tags=("paris",)),
    Contact("acme", "dan@c.example", "Dan", status="do_not_contact", tags=("vip",)),
    Contact("other", "ann@a.example", "Not acme's"),
]  # fmt: skip


async def test_upsert_reports_created_and_updated_and_keeps_what_must_stay(store):
    assert await store.upsert_contacts("acme", PEOPLE[:4]) == ["created"] * 4
    assert await store.upsert_contacts("other", PEOPLE[4:]) == ["created"]
    again = [
        replace(PEOPLE[0], first_name="Anne", custom={"company": "Acme"}),
        replace(PEOPLE[3], status="active"),  # an import cannot undo do_not_contact
        Contact("acme", "eve@e.example"),
    ]
    assert await store.upsert_contacts("acme", again) == ["updated", "updated", "created"]
    ann = await store.contact("acme", "ann@a.example")
    assert (ann.first_name, ann.custom, ann.tags) == ("Anne", {"company": "Acme"}, ("vip", "paris"))
    assert ann.created > 0 and ann.updated >= ann.created
    assert (await store.contact("acme", "dan@c.example")).status == "do_not_contact"
    assert (await store.contact("other", "ann@a.example")).first_name == "Not acme's"
    # Custom fields merge: a first line stored later survives the next import.
    assert await store.update_custom("acme", "ann@a.example", {"first_line:intro": "Hi"})
    await store.upsert_contacts("acme", [replace(PEOPLE[0], custom={"size": 3})])
    merged = (await store.contact("acme", "ann@a.example")).custom
    assert merged == {"company": "Acme", "first_line:intro": "Hi", "size": 3}
    assert not await store.update_custom("acme", "nobody@x.example", {"a": 1})
    assert await store.set_contact_status("acme", "dan@c.example", "active")
    assert await store.delete_contact("acme", "eve@e.example")
    assert not await store.delete_contact("acme", "eve@e.example")


async def test_the_sql_filter_agrees_with_matches_and_pages_by_cursor(store):
    await store.upsert_contacts("acme", PEOPLE[:4])
    await store.upsert_contacts("other", PEOPLE[4:])
    filters = [
        ContactFilter(),
        ContactFilter(status=None),
        ContactFilter(tags=("vip",)),  # not bob's "vip_x": the underscore is no wildcard
        ContactFilter(tags=("vip", "paris")),
        ContactFilter(languages=("fr",), min_score=60),
        ContactFilter(countries=("FR", "GB"), deliverable_only=True),
        ContactFilter(min_validation_score=80),
        ContactFilter(categories=("blog",), excluded_domains=("b.example",)),
    ]
    acme = [p for p in PEOPLE if p.tenant == "acme"]
    for f in filters:
        found = [c.email for c in await store.contacts_page("acme", f, None, 100)]
        assert found == sorted(p.email for p in acme if matches(p, f)), f
    first = await store.contacts_page("acme", ContactFilter(status=None), None, 2)
    rest = await store.contacts_page("acme", ContactFilter(status=None), first[-1].email, 2)
    assert [c.email for c in first + rest] == sorted(p.email for p in acme)


async def test_templates_by_name_language_and_category(store):
    base = Template("acme", "intro", "Hi", text="hello")
    fr = replace(base, language="fr", text="bonjour")
    await store.save_template(base)
    await store.save_template(fr)
    await store.save_template(replace(fr, text="salut", updated=5.0))
    await store.save_template(replace(base, name="nudge"))
    variants = await store.template_variants("acme", "intro")
    assert [(t.language, t.text) for t in variants] == [("", "hello"), ("fr", "salut")]
    assert [t.name for t in await store.templates("acme")] == ["intro", "intro", "nudge"]
    assert await store.delete_template("acme", "intro", "fr")
    assert not await store.delete_template("acme", "intro", "fr")
    assert [t.language for t in await store.template_variants("acme", "intro")] == [""]
