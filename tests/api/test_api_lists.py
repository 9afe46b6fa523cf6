"""Events, engagement and feedback statistics over real HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import quote

from policy.engagement import Engagement
from policy.events import Event
from tests.api.test_api_lists_suppression import T0, error_of, settings, walk
from tests.support.admin_api import serve_admin


def event(kind: str, *recipients: str, at: float = T0, **fields) -> Event:
    fields.setdefault("tenant", "acme")
    return Event(kind, client="c", mail_from="s@a.example", recipients=recipients, at=at, **fields)


async def ids(session, query: str, path: str = "/api/events") -> list[int]:
    r = await session.get(f"{path}?{query}")
    assert r.status == 200, await r.text()
    return [item["id"] for item in (await r.json())["items"]]


async def test_event_filters_and_whole_recipient_match(store):
    await store.record(
        [
            event("relayed", "a@x.com", "c@y.com", ip="192.0.2.10", job="spring"),  # id 1
            event("relayed", "ba@x.com", ip="192.0.2.10", job="spring"),  # 2
            event("relayed", "a@x.comb", "xa@x.com", ip="192.0.2.11", job="autumn"),  # 3
            event("bounced", "A@X.com", ip="192.0.2.10", reply="5.1.1 userunknown", at=T0 + 5),
            event("deferred", "a_b@x.com", tenant="beta", at=T0 + 10),  # 5
            event("complained", "c@y.com", ip="192.0.2.11", reply="feedback", at=T0 + 20),  # 6
        ]
    )
    async with serve_admin(settings(), store) as server, server.session("viewer") as v:
        assert await ids(v, "") == [6, 5, 4, 3, 2, 1]
        r = await v.get("/api/events?limit=1")
        (item,) = (await r.json())["items"]
        assert (item["recipients"], item["reply"], item["dry_run"]) == (
            ["c@y.com"],
            "feedback",
            False,
        )
        # One whole recipient, any case: never ba@x.com, xa@x.com or a@x.comb.
        assert await ids(v, "recipient=a@x.com") == [4, 1]
        assert await ids(v, "recipient=c@y.com") == [6, 1]
        assert await ids(v, "recipient=a%25b@x.com") == []
        assert await ids(v, "recipient=a_b@x.com") == [5]
        assert await ids(v, "tenant=beta") == [5]
        assert await ids(v, "kind=bounced&kind=complained") == [6, 4]
        assert await ids(v, "kind=relayed,deferred&tenant=acme") == [3, 2, 1]
        assert await ids(v, "campaign=spring") == [2, 1]
        assert await ids(v, "ip=192.0.2.11") == [6, 3]
        assert await ids(v, f"since={T0 + 5}&until={T0 + 20}") == [5, 4]
        iso = quote(datetime.fromtimestamp(T0 + 10, UTC).isoformat())  # +00:00
        assert await ids(v, f"since={iso}") == [6, 5]
        for query, field in [
            ("kind=relayed,sent", "kind"),
            ("ip=192.0.2", "ip"),
            ("recipient=a@x.com,b@x.com", "recipient"),
            ("until=soon", "until"),
            ("cursor=eyJ4IjoxfQ", "cursor"),
        ]:
            r = await v.get("/api/events?" + query)
            assert (await error_of(r))[::2] == (400, field), query
        r = await v.get("/api/suppression?limit=1")
        assert (await r.json())["next_cursor"] is None
        # A cursor of another list is refused.
        await store.record([event("relayed", "q@x.com")])
        r = await v.get("/api/events?limit=1")
        cursor = (await r.json())["next_cursor"]
        r = await v.get(f"/api/suppression?cursor={cursor}")
        assert (await error_of(r))[::2] == (400, "cursor")
        r = await v.get(f"/api/engagement?cursor={cursor}")
        assert (await error_of(r))[::2] == (400, "cursor")


async def test_event_pages_newest_first_once_each_while_events_arrive(store):
    await store.record([event("relayed", f"r{i}@x.com", at=T0 + i) for i in range(15)])

    async def arrive(number: int) -> None:
        await store.record([event("relayed", f"late{number}@x.com", at=T0 + 100)])

    async with serve_admin(settings(), store) as server, server.session("viewer") as v:
        pages = await walk(v, "/api/events?kind=relayed", 4, arrive)
    seen = [item["recipients"][0] for page in pages for item in page]
    # Newer events land before the walk's start: none of them shows up, nothing repeats.
    assert seen == [f"r{i}@x.com" for i in reversed(range(15))]
    assert [len(page) for page in pages] == [4, 4, 4, 3]


def engagement(kind: str, recipient: str, classification: str = "human", **fields) -> Engagement:
    fields.setdefault("tenant", "acme")
    fields.setdefault("job", "spring")
    fields.setdefault("at", T0)
    return Engagement(
        kind, message_id="<m1@a>", recipient=recipient, classification=classification, **fields
    )


async def test_engagement_filters_and_pages(store):
    await store.record_engagement(
        [
            engagement("open", "a@x.com", "machine", reason="apple_mpp"),  # 1
            engagement("open", "a@x.com"),  # 2
            engagement("click", "A@x.com", url="https://a.example/", at=T0 + 5),  # 3
            engagement("click", "ba@x.com", job="autumn", at=T0 + 6),  # 4
            engagement("unsubscribe", "c@x.com", tenant="beta", at=T0 + 7),  # 5
        ]
    )
    async with serve_admin(settings(), store) as server, server.session("viewer") as v:
        path = "/api/engagement"
        assert await ids(v, "", path) == [5, 4, 3, 2, 1]
        assert await ids(v, "recipient=a@x.com", path) == [3, 2, 1]
        assert await ids(v, "classification=machine", path) == [1]
        assert await ids(v, "kind=open,unsubscribe", path) == [5, 2, 1]
        assert await ids(v, "campaign=autumn", path) == [4]
        assert await ids(v, "tenant=beta", path) == [5]
        assert await ids(v, f"since={T0 + 5}&until={T0 + 7}", path) == [4, 3]
        r = await v.get(f"{path}?limit=1")
        (item,) = (await r.json())["items"]
        assert (item["kind"], item["first_open"], item["classification"]) == (
            "unsubscribe",
            False,
            "human",
        )
        pages = await walk(v, path, 2)
        assert [[i["id"] for i in page] for page in pages] == [[5, 4], [3, 2], [1]]
        for query, field in [("kind=view", "kind"), ("classification=bot", "classification")]:
            r = await v.get(f"{path}?{query}")
            assert (await error_of(r))[::2] == (400, field), query


async def test_feedback_statistics_by_reason_ip_and_provider(store):
    g, m = {"provider": "google"}, {"provider": "microsoft"}
    ip1, ip2 = {"ip": "192.0.2.10"}, {"ip": "192.0.2.11"}
    await store.record(
        [
            event("relayed", *[f"r{i}@gmail.com" for i in range(6)], **ip1, **g),
            event("relayed", "r@gmail.com", "s@gmail.com", **ip2, **g),
            event("relayed", "r@outlook.com", "s@outlook.com", **ip2, **m),
            event("relayed", "dry@gmail.com", dry_run=True, **ip1, **g),  # reached nobody
            event("deferred", "d@gmail.com", **ip1, **g),
            event("bounced", "r0@gmail.com", reply="5.1.1 userunknown", **ip1, **g),
            event("bounced", "r1@gmail.com", reply="5.1.1 userunknown", **ip1, **g),
            event("bounced", "r@outlook.com", reply="5.7.1 badreputation", **ip2, **m),
            event("bounced", "s@outlook.com", reply="550 something new", **ip2, **m),
            event("complained", "s@gmail.com", reply="feedback", **ip2, **g),
            event("bounced", "b@gmail.com", tenant="beta", reply="5.2.2 mailboxfull", **ip1, **g),
            event("bounced", "old@gmail.com", reply="5.1.1 userunknown", at=T0 - 90_000, **ip1),
        ]
    )
    clock = datetime.fromtimestamp(T0 + 60, UTC)
    async with serve_admin(settings(), store, clock=lambda: clock) as server:
        async with server.session("viewer") as v:
            r = await v.get("/api/stats/feedback?tenant=acme")  # the last 24 hours
            assert r.status == 200, await r.text()
            stats = await r.json()
            r = await v.get(f"/api/stats/feedback?since={T0 - 100_000}&until={T0 + 1}")
            everything = await r.json()
            r = await v.get("/api/stats/feedback?since=2030-01-01T00:00:00Z")
            assert (await error_of(r))[::2] == (400, "until")
    assert (stats["since"], stats["until"], stats["tenant"]) == (T0 + 60 - 86400, T0 + 60, "acme")
    assert stats["totals"] == {
        "relayed": 10,
        "bounced": 4,
        "complained": 1,
        "bounce_rate": 0.4,
        "complaint_rate": 0.1,
    }
    reasons = {r["reason"]: r for r in stats["by_reason"]}
    assert list(reasons) == ["userunknown", "badreputation", "feedback", "undefined"]
    assert reasons["userunknown"] == {
        "reason": "userunknown",
        "class": "hard",
        "bounced": 2,
        "complained": 0,
        "bounce_rate": 0.2,
        "complaint_rate": 0.0,
    }
    assert (reasons["feedback"]["class"], reasons["feedback"]["complained"]) == ("complaint", 1)
    assert reasons["badreputation"]["class"] == "block"
    by_ip = {row["ip"]: row for row in stats["by_ip"]}
    assert [row["ip"] for row in stats["by_ip"]] == ["192.0.2.10", "192.0.2.11"]
    assert (by_ip["192.0.2.10"]["relayed"], by_ip["192.0.2.10"]["bounce_rate"]) == (6, 0.333333)
    assert (by_ip["192.0.2.11"]["bounced"], by_ip["192.0.2.11"]["complaint_rate"]) == (2, 0.25)
    by_provider = {row["provider"]: row for row in stats["by_provider"]}
    assert by_provider["microsoft"] == {
        "provider": "microsoft",
        "relayed": 2,
        "bounced": 2,
        "complained": 0,
        "bounce_rate": 1.0,
        "complaint_rate": 0.0,
    }
    # Every tenant, and the day before: beta's bounce and the old one count too.
    assert everything["tenant"] is None
    assert (everything["totals"]["bounced"], everything["totals"]["relayed"]) == (6, 10)
    assert {r["reason"] for r in everything["by_reason"]} >= {"mailboxfull"}


async def test_routes_are_described_with_their_roles(store):
    async with serve_admin(settings(), store) as server, server.session(None) as anon:
        spec = await (await anon.get("/api/openapi.json")).json()
        r = await anon.get("/api/events")
        assert r.status == 401
    paths = spec["paths"]
    for path, method, role in [
        ("/api/suppression", "get", "viewer"),
        ("/api/suppression", "post", "operator"),
        ("/api/suppression/{tenant}/{address}", "delete", "operator"),
        ("/api/suppression/import", "post", "operator"),
        ("/api/suppression/export", "get", "viewer"),
        ("/api/events", "get", "viewer"),
        ("/api/engagement", "get", "viewer"),
        ("/api/stats/feedback", "get", "viewer"),
    ]:
        assert paths[path][method]["description"] == f"Needs the {role} role.", (path, method)
    assert "text/csv" in paths["/api/suppression/import"]["post"]["requestBody"]["content"]
