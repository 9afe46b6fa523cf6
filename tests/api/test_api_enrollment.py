"""GET and PUT /api/enrollment/{tenant} over HTTP: the settings in force, runtime changes
stored, audited and winning over the file, the counts, roles; the events API lists the
enrollment's events."""

from __future__ import annotations

import time

from policy.enrollment import events as ev
from policy.enrollment.prospects import Decision
from policy.events import Event
from policy.switches import Switch
from tests.api.test_api_lists_suppression import error_of
from tests.support.admin_api import serve_admin
from tests.support.prospects import settings

URL = "/api/enrollment/acme"


async def test_show_change_audit_and_roles(store):
    s = settings(9, "{enabled: false, max_per_hour: 50, categories: [blogger]}")
    async with serve_admin(s, store) as server:
        async with server.session("viewer") as viewer, server.session("admin") as admin:
            r = await viewer.get(URL)
            assert r.status == 200, await r.text()
            got = await r.json()
            assert got["settings"]["enabled"] is False and got["settings"]["max_per_hour"] == 50
            assert got["settings"]["categories"] == ["blogger"] and got["runtime"] == []
            assert got["holding"].startswith("enrollment is off") and got["dry_run"] is True
            assert (got["enrolled_last_hour"], got["enrolled_today"]) == (0, 0)
            assert (await viewer.put(URL, json={"enabled": True})).status == 403
            async with server.session("operator") as op:
                assert (await op.put(URL, json={"enabled": True})).status == 403
            r = await admin.put(URL, json={"enabled": True, "dry_run": False, "max_tier": None})
            assert r.status == 200, await r.text()
            got = await r.json()
            assert (got["settings"]["enabled"], got["settings"]["dry_run"]) == (True, False)
            assert got["settings"]["max_tier"] == 3  # null: unchanged
            assert got["runtime"] == ["dry_run", "enabled"] and got["holding"] == ""
            r = await admin.put(URL, json={"max_per_hour": 7})
            assert (await r.json())["runtime"] == ["dry_run", "enabled", "max_per_hour"]
            bad = await admin.put(URL, json={"languages": ["French"]})
            assert await error_of(bad) == (422, "invalid_field", "languages")
            assert (await admin.put(URL, json={"max_per_day": -1})).status == 422
            assert (await admin.get("/api/enrollment/nobody")).status == 404
            r = await admin.get("/api/audit")
            entries = [e for e in (await r.json())["items"] if e["action"] == "enrollment.settings"]
            assert len(entries) == 2
            newest = entries[0]
            assert (newest["actor"], newest["target"]) == ("admin", "acme")
            assert (newest["before"]["max_per_hour"], newest["after"]["max_per_hour"]) == (50, 7)
    # The stored change wins over the file, even after a reload with other values.
    s2 = settings(9, "{enabled: false, max_per_hour: 99}")
    async with serve_admin(s2, store) as server, server.session("viewer") as viewer:
        got = await (await viewer.get(URL)).json()
        assert (got["settings"]["enabled"], got["settings"]["max_per_hour"]) == (True, 7)


async def test_counts_switches_and_events(store):
    now = time.time()
    await store.save_enrollment_settings("acme", '{"enabled": true, "dry_run": false}', "a", now)
    from policy.enrollment import prospects as pr

    ps = [pr.parse("acme", {"email": f"p{i}@b.example"}, "s")[0] for i in range(3)]
    await store.ingest_prospects("acme", ps, [pr.row_of(p, "ok", now) for p in ps])
    await store.decide_prospects(
        "acme", [Decision("p0@b.example", "enrolled", scenario="x")], now - 7200
    )
    await store.decide_prospects(
        "acme", [Decision("p1@b.example", "enrolled", scenario="x")], now - 60
    )
    await store.record(
        [Event(ev.ENROLLED, "acme", ev.CLIENT, "", ("p1@b.example",), detail="{}", at=now)]
    )
    async with serve_admin(settings(9), store) as server, server.session("viewer") as viewer:
        got = await (await viewer.get(URL)).json()
        assert got["enrolled_last_hour"] == 1 and got["prospects"] == {"enrolled": 2, "ready": 1}
        assert got["enrolled_today"] in (1, 2)  # p0 may fall before midnight UTC
        await store.set_switch(Switch("pause", "acme", "outage", "ops"))
        await store.set_switch(Switch("dry_run", "", "drill", "ops"))
        got = await (await viewer.get(URL)).json()
        assert got["holding"].startswith("sending is off") and got["dry_run"] is True
        r = await viewer.get("/api/events", params={"kind": "enrolled", "tenant": "acme"})
        assert r.status == 200, await r.text()
        assert [e["recipients"] for e in (await r.json())["items"]] == [["p1@b.example"]]
