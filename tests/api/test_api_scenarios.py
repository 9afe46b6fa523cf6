"""The scenarios API over HTTP: create, errors naming the field, versions, lifecycle,
enrollment with reasons, stats, and a recorded reply."""

from __future__ import annotations

from policy.scenarios.contacts import Contact
from policy.scenarios.templates import Template
from tests.api.test_api_lists_suppression import error_of, settings
from tests.support.admin_api import serve_admin

BODY = {
    "name": "intro",
    "from": "Anna <anna@a.example>",
    "window": {"days": "mon-fri", "start": "09:00", "end": "17:30", "timezone": "Europe/Paris"},
    "cooldown": "3d",
    "steps": [
        {"id": "intro", "trigger": "entry", "template": "intro"},
        {"id": "nudge", "parent": "intro", "trigger": "not_opened", "delay": "3d", "template": "n"},
    ],
}


async def saved_templates(store, *names: str) -> None:
    for name in names or ("intro", "n"):
        await store.save_template(Template("acme", name, "Hello", text="Hello\n"))


async def test_create_show_version_act_enroll_and_stats(store):
    await saved_templates(store)
    await store.upsert_contacts(
        "acme",
        [
            Contact("acme", "a@x.net"),
            Contact("acme", "b@x.net"),
            Contact("acme", "dnc@x.net", status="do_not_contact"),
        ],
    )
    async with serve_admin(settings(), store) as server:
        async with server.session("admin") as admin, server.session("viewer") as viewer:
            r = await admin.post("/api/scenarios/acme", json=BODY)
            assert r.status == 201 and (await r.json())["status"] == "draft"
            assert (await error_of(await admin.post("/api/scenarios/acme", json=BODY)))[:2] == (
                409,
                "exists",
            )
            bad = {**BODY, "cooldown": "3x"}
            assert await error_of(await admin.post("/api/scenarios/acme", json=bad)) == (
                422,
                "invalid_field",
                "cooldown",
            )
            foreign = {**BODY, "name": "x", "from": "z@elsewhere.example"}
            assert await error_of(await admin.post("/api/scenarios/acme", json=foreign)) == (
                422,
                "invalid_field",
                "from",
            )
            assert (await viewer.post("/api/scenarios/acme", json=BODY)).status == 403
            r = await admin.post("/api/scenarios/acme/intro/start")
            assert (await r.json())["status"] == "active"
            r = await admin.put("/api/scenarios/acme/intro", json={**BODY, "daily_cap": 10})
            assert (await r.json())["version"] == 2
            nameless = {k: v for k, v in BODY.items() if k != "name"}  # the path names it
            r = await admin.put("/api/scenarios/acme/intro", json={**nameless, "daily_cap": 9})
            assert (r.status, (await r.json())["version"]) == (200, 3)
            emails = ["a@x.net", "dnc@x.net", "nobody@x.net", "a@x.net"]
            r = await admin.post("/api/scenarios/acme/intro/enroll", json={"emails": emails})
            got = await r.json()
            assert got["enrolled"] == ["a@x.net"]
            assert {s["email"]: s["reason"] for s in got["skipped"]} == {
                "dnc@x.net": "do_not_contact",
                "nobody@x.net": "not a contact",
            }
            r = await admin.post("/api/scenarios/acme/intro/enroll", json={"filter": {}})
            assert (await r.json())["enrolled"] == ["b@x.net"]
            r = await viewer.get("/api/scenarios/acme/intro/stats")
            stats = await r.json()
            assert (stats["enrolled"], stats["active"], stats["steps"][0]["pending"]) == (2, 2, 2)
            r = await admin.post("/api/scenarios/acme/intro/pause")
            assert (await r.json())["status"] == "paused"
            assert (await error_of(await admin.post("/api/scenarios/acme/intro/pause")))[:2] == (
                409,
                "invalid_state",
            )
            r = await viewer.get("/api/scenarios/acme")
            assert [s["name"] for s in (await r.json())["scenarios"]] == ["intro"]
            r = await admin.post("/api/contacts/acme/A@x.net/events", json={"kind": "replied"})
            assert (await r.json()) == {"tenant": "acme", "email": "a@x.net", "kind": "replied"}
            assert await store.stop_reason("acme", "a@x.net", 0.0) == "reply"
            r = await admin.post("/api/contacts/acme/a@x.net/events", json={"kind": "waved"})
            assert (await error_of(r))[0] == 422
    actions = {e.action for e in await store.audit_entries()}
    assert {"scenario.create", "scenario.update", "scenario.start", "scenario.enroll"} <= actions
    assert {"scenario.pause", "contact.replied"} <= actions


async def test_a_tenant_has_one_default_scenario(store):
    default = {**BODY, "name": "nurture", "pauses_while_filtered": True}
    async with serve_admin(settings(), store) as server:
        async with server.session("admin") as admin:
            assert (await admin.post("/api/scenarios/acme", json=default)).status == 201
            second = {**default, "name": "other"}
            got = await error_of(await admin.post("/api/scenarios/acme", json=second))
            assert got == (409, "exists", "pauses_while_filtered")
            # Saving the default itself again is fine; a plain scenario is too.
            assert (await admin.put("/api/scenarios/acme/nurture", json=default)).status == 200
            plain = {**BODY, "name": "plain", "side_by_side": True}
            assert (await admin.post("/api/scenarios/acme", json=plain)).status == 201


async def test_migrate_over_http(store):
    await saved_templates(store)
    await store.upsert_contacts("acme", [Contact("acme", "a@x.net")])
    async with serve_admin(settings(), store) as server:
        async with server.session("admin") as admin, server.session("viewer") as viewer:
            assert (await admin.post("/api/scenarios/acme", json=BODY)).status == 201
            await admin.post("/api/scenarios/acme/intro/start")
            await admin.post("/api/scenarios/acme/intro/enroll", json={"emails": ["a@x.net"]})
            await admin.put("/api/scenarios/acme/intro", json={**BODY, "daily_cap": 5})
            assert (await viewer.post("/api/scenarios/acme/intro/migrate")).status == 403
            r = await admin.post("/api/scenarios/acme/intro/migrate")
            assert await r.json() == {"version": 2, "moved": ["a@x.net"], "skipped": []}
            r = await admin.post("/api/scenarios/acme/intro/migrate", json={"emails": ["a@x.net"]})
            assert (await r.json())["moved"] == []
            assert (await admin.post("/api/scenarios/acme/nope/migrate")).status == 404
            entries = await store.audit_entries(5)
            assert entries[0].action == "scenario.migrate"


async def test_what_a_scenario_lacks_is_named_before_it_runs(store):
    async with serve_admin(settings(), store) as server:
        async with server.session("admin") as admin:
            orphan = {
                **BODY,
                "name": "o",
                "steps": [*BODY["steps"][:1], {**BODY["steps"][1], "parent": "zz"}],
            }
            assert await error_of(await admin.post("/api/scenarios/acme", json=orphan)) == (
                422, "invalid_field", "steps.1.parent",
            )  # fmt: skip
            typo = {**BODY, "name": "q", "queue_behind": "intr"}
            assert await error_of(await admin.post("/api/scenarios/acme", json=typo)) == (
                422, "invalid_field", "queue_behind",
            )  # fmt: skip
            # A draft may come before its templates; it starts only once they exist.
            assert (await admin.post("/api/scenarios/acme", json=BODY)).status == 201
            await saved_templates(store, "intro")
            r = await admin.post("/api/scenarios/acme/intro/start")
            assert (r.status, (await r.json())["error"]["field"]) == (422, "steps.1.template")
            assert (await store.scenario("acme", "intro")).status == "draft"
            await saved_templates(store, "n")
            assert (await admin.post("/api/scenarios/acme/intro/start")).status == 200
            # A running scenario's new version may not name a template that is not there.
            ghost = {**BODY, "steps": [BODY["steps"][0], {**BODY["steps"][1], "template": "gone"}]}
            r = await admin.put("/api/scenarios/acme/intro", json=ghost)
            assert (r.status, (await r.json())["error"]["field"]) == (422, "steps.1.template")
            assert (await store.scenario("acme", "intro")).version == 1
