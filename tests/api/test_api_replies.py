"""GET /api/replies/{tenant}, POST .../review and the stats' reply counts, over real HTTP."""

from __future__ import annotations

import pytest

from tests.api.test_api_ips import call
from tests.support.admin_api import serve_admin
from tests.unit.test_replies import config, reply, service
from tests.unit.test_reply_store import sent_once

pytestmark = pytest.mark.asyncio


async def test_list_review_and_stats(store) -> None:
    await sent_once(store)
    s = config(None, key=None)  # no model: replies are "other", marked for review
    svc = service(store, s, [])
    assert await svc.handle("acme", reply("Sounds great, tell me more"), key="a", source="smtp")
    assert await svc.handle(
        "acme", reply("back on 12 January", "Out of office", Auto_Submitted="auto-replied"),
        key="b", source="smtp",
    )  # fmt: skip
    async with serve_admin(s, store) as server:
        path, template = "/api/replies/acme", "/api/replies/{tenant}"
        status, body = await call(server, "viewer", "GET", path, template)
        assert status == 200 and len(body["items"]) == 2
        ooo, human = body["items"]
        assert (ooo["classification"], ooo["decided_by"], ooo["review"]) == (
            "out_of_office", "rules", False,
        )  # fmt: skip
        assert (human["classification"], human["review"], human["step"]) == ("other", True, "intro")
        assert human["excerpt"] == "Sounds great, tell me more" and "key" not in human
        status, body = await call(server, "viewer", "GET", path + "?review=true", template)
        assert [r["id"] for r in body["items"]] == [human["id"]]
        status, _ = await call(server, "viewer", "GET", "/api/replies/nobody", template)
        assert status == 404

        review = f"/api/replies/acme/{human['id']}/review"
        rtemplate = "/api/replies/{tenant}/{id}/review"
        body_ok = {"json": {"classification": "interested"}}
        status, _ = await call(server, "viewer", "POST", review, rtemplate, **body_ok)
        assert status == 403
        status, body = await call(
            server, "operator", "POST", review, rtemplate, json={"classification": "nope"}
        )
        assert status == 422
        status, body = await call(server, "operator", "POST", review, rtemplate, **body_ok)
        assert status == 200
        assert (body["classification"], body["decided_by"], body["review"]) == (
            "interested", "operator", False,
        )  # fmt: skip
        status, _ = await call(
            server, "operator", "POST", "/api/replies/acme/999/review", rtemplate, **body_ok
        )
        assert status == 404
        entries = await store.audit_entries(limit=10)
        assert any(e.action == "reply.review" for e in entries)

        stats_path = "/api/scenarios/acme/intro/stats"
        status, stats = await call(
            server, "viewer", "GET", stats_path, "/api/scenarios/{tenant}/{name}/stats"
        )
        assert status == 200
        assert stats["replies"] == {"intro": {"interested": 1, "out_of_office": 1}}
