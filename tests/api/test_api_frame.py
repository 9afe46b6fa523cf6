"""The admin API's frame over real HTTP: tokens, roles, the brake on guessing, JSON errors."""

from __future__ import annotations

from aiohttp import web
from pydantic import Field

import conf
from admin import api
from admin.api_models import Body, Out, field_name
from admin.openapi import route
from tests.support.admin_api import TOKENS, serve_admin


def settings() -> conf.Settings:
    return conf.parse(
        """
http: {auth_failure_limit: 3, auth_lockout: 30}
tenants:
  - {name: acme, pool: acme, trusted_networks: [127.0.0.1/32], sender_domains: [a.example]}
pools:
  acme: [{ip: 192.0.2.10, vmta: acme-1, hostname: h1}]
""",
        environ={},
    )


class Echo(Body):
    count: int = Field(gt=0)


class Echoed(Out):
    count: int
    by: str


async def _echo(request: web.Request, body: Echo) -> Echoed:
    await api.audit(request, "test.echo", "x", None, {"count": body.count})
    return Echoed(count=body.count, by=api.principal(request).name)


def add_test_route(app: web.Application) -> None:
    route(
        app,
        "POST",
        "/api/test/echo",
        _echo,
        role="operator",
        summary="t",
        tag="t",
        body=Echo,
        responses={200: Echoed},
    )


async def test_auth_roles_audit_and_validation(store, monkeypatch):
    monkeypatch.setattr("admin.app.API_MODULES", [add_test_route])
    async with serve_admin(settings(), store) as server:
        async with server.session(None) as anon:
            r = await anon.post("/api/test/echo", json={"count": 1})
            assert r.status == 401
            assert r.headers["WWW-Authenticate"] == "Bearer"
            assert (await r.json())["error"]["code"] == "unauthorized"
            spec = await (await anon.get("/api/openapi.json")).json()  # open to all
            assert spec["paths"]["/api/test/echo"]["post"]["security"] == [{"bearer": []}]
        async with server.session("viewer") as viewer:
            r = await viewer.post("/api/test/echo", json={"count": 1})
            assert r.status == 403
            assert "needs operator" in (await r.json())["error"]["message"]
        async with server.session("operator") as op:
            r = await op.post("/api/test/echo", json={"count": 2})
            assert (r.status, await r.json()) == (200, {"count": 2, "by": "operator"})
            for body, status, code, field in [
                ({"count": 0}, 422, "invalid_field", "count"),
                ({"count": "2"}, 422, "invalid_field", "count"),
                ({"count": True}, 422, "invalid_field", "count"),
                ({}, 422, "missing_field", "count"),
                ({"count": 1, "x": 1}, 422, "unknown_field", "x"),
            ]:
                r = await op.post("/api/test/echo", json=body)
                error = (await r.json())["error"]
                assert (r.status, error["code"], error.get("field")) == (status, code, field)
            for raw in [b"{nope", b"[1]", b"", b"\xff", b"[" * 100_000]:
                r = await op.post("/api/test/echo", data=raw)
                assert (r.status, (await r.json())["error"]["code"]) == (400, "invalid_json"), raw
            # null is absent: a required field is missing, an unknown one still unknown.
            for body, code, field in [
                ({"count": None}, "missing_field", "count"),
                ({"count": 1, "x": None}, "unknown_field", "x"),
            ]:
                r = await op.post("/api/test/echo", json=body)
                error = (await r.json())["error"]
                assert (r.status, error["code"], error["field"]) == (422, code, field)
            r = await op.get("/api/no/such/thing")
            assert (r.status, (await r.json())["error"]["code"]) == (404, "not_found")
        entries = await store.audit_entries()
        assert [(e.actor, e.action, e.as_dict()["after"]) for e in entries] == [
            ("operator", "test.echo", {"count": 2})
        ]


async def test_repeated_failures_are_slowed_down(store, monkeypatch):
    monkeypatch.setattr("admin.app.API_MODULES", [add_test_route])
    async with serve_admin(settings(), store) as server:
        async with server.session(None) as anon:
            bad = {"Authorization": "Bearer guess"}
            for _ in range(3):
                r = await anon.post("/api/test/echo", json={"count": 1}, headers=bad)
                assert r.status == 401
            r = await anon.post("/api/test/echo", json={"count": 1}, headers=bad)
            assert r.status == 429
            assert 25 <= int(r.headers["Retry-After"]) <= 30
            # Even the right token waits out the window: guessing cannot be interleaved.
            good = {"Authorization": f"Bearer {TOKENS['admin']}"}
            r = await anon.post("/api/test/echo", json={"count": 1}, headers=good)
            assert r.status == 429
        server.ctx.limiter.succeeded("127.0.0.1")
        async with server.session("admin") as admin:
            r = await admin.post("/api/test/echo", json={"count": 1})
            assert r.status == 200


async def test_audit_entries_page_back(store):
    from policy import audit

    for i in range(5):
        await store.record_audit(audit.entry("ops", f"a{i % 2}", f"t{i}", None, {"i": i}))
    first = await store.audit_entries(limit=2)
    assert [e.target for e in first] == ["t4", "t3"]
    more = await store.audit_entries(limit=10, before_id=first[-1].id)
    assert [e.target for e in more] == ["t2", "t1", "t0"]
    only = await store.audit_entries(action="a1")
    assert [e.target for e in only] == ["t3", "t1"]


def test_error_locations_read_as_the_api_names_fields():
    assert field_name(("addresses", "list[function-after[_checked(), str]]", 2)) == "addresses[2]"
    assert field_name(("pacing", "done_by")) == "pacing.done_by"
    assert field_name(("expires", "float")) == "expires"
    assert field_name(("groups", "google", "limit")) == "groups.google.limit"


async def test_every_json_body_and_answer_is_a_declared_model(store):
    """No hand-written schema: JSON in and out is a model's, in the components."""
    async with serve_admin(settings(), store) as server, server.session(None) as anon:
        spec = await (await anon.get("/api/openapi.json")).json()
    raw = {("/api/openapi.json", "get"), ("/api/webhooks/powermta", "post")}
    seen = 0
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if (path, method) in raw:
                continue
            answers = [r["content"] for r in operation["responses"].values()]
            if "requestBody" in operation:
                answers.append(operation["requestBody"]["content"])
            for content in answers:
                if "application/json" in content:
                    ref = content["application/json"]["schema"]["$ref"]
                    assert ref.rsplit("/", 1)[1] in spec["components"]["schemas"], ref
                    seen += 1
    assert seen > 100
