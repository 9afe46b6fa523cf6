"""A bounce's reading on GET /api/events and the review of the suppressions it caused."""

from __future__ import annotations

import json

from policy.events import Event
from policy.suppression import Suppression
from tests.api.test_api_lists_suppression import T0, settings
from tests.support.admin_api import serve_admin


def bounced(recipient: str, rule: str, confidence: str) -> Event:
    detail = {"rule": rule, "evidence": "5.1.1", "confidence": confidence}
    return Event(
        "bounced",
        "acme",
        "dsn",
        "",
        (recipient,),
        reply="5.1.1 userunknown",
        at=T0,
        detail=json.dumps(detail),
    )


async def test_events_show_the_reading_and_review_lists_low_confidence(store):
    await store.record(
        [
            bounced("clear@x.example", "code+text", "high"),
            bounced("bare@x.example", "code-only", "low"),
        ]
    )
    await store.suppress(
        [
            Suppression("acme", a, "hard_bounce", "dsn:userunknown", T0)
            for a in ("clear@x.example", "bare@x.example")
        ]
    )
    async with serve_admin(settings(), store) as server, server.session("viewer") as v:
        r = await v.get("/api/events?kind=bounced")
        items = (await r.json())["items"]
        assert {i["recipients"][0]: i["detail"]["rule"] for i in items} == {
            "clear@x.example": "code+text",
            "bare@x.example": "code-only",
        }
        r = await v.get("/api/suppression/review?tenant=acme")
        assert r.status == 200, await r.text()
        (item,) = (await r.json())["items"]
        assert (item["address"], item["rule"], item["confidence"]) == (
            "bare@x.example",
            "code-only",
            "low",
        )
        r = await v.get("/api/suppression/review?all=true")
        assert len((await r.json())["items"]) == 2
        r = await v.get("/api/suppression/review?scan=0")
        assert r.status == 400
