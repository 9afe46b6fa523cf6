"""The suppression lists over real HTTP, on SQLite and PostgreSQL: read, write, CSV, roles."""

from __future__ import annotations

import csv
import io

import conf
from policy.suppression import Removal, Suppression
from tests.support.admin_api import serve_admin

T0 = 1_700_000_000.0


def settings() -> conf.Settings:
    return conf.parse(
        """
tenants:
  - {name: acme, pool: acme, trusted_networks: [127.0.0.1/32], sender_domains: [a.example]}
  - {name: beta, pool: beta, trusted_networks: [127.0.0.2/32], sender_domains: [b.example]}
pools:
  acme: [{ip: 192.0.2.10, vmta: acme-1, hostname: h1}]
  beta: [{ip: 192.0.2.20, vmta: beta-1, hostname: h2}]
""",
        environ={},
    )


async def error_of(response) -> tuple[int, str, str | None]:
    error = (await response.json())["error"]
    return response.status, error["code"], error.get("field")


async def test_add_look_up_remove_with_roles_audit_and_the_mirror_feed(store):
    async with serve_admin(settings(), store) as server:
        async with server.session("viewer") as viewer, server.session("operator") as op:
            body = {"tenant": "acme", "address": "Bob@X.example"}
            r = await viewer.post("/api/suppression", json=body)
            assert r.status == 403
            r = await op.post("/api/suppression", json=body)
            assert r.status == 200, await r.text()
            assert (await r.json())["suppressed"] == 1

            # What every process's mirror follows: the store's change feed.
            changes = [c for _, c in await store.suppression_changes(0)]
            assert [(c.tenant, c.address, c.reason, c.source) for c in changes] == [
                ("acme", "bob@x.example", "manual", "api:operator")
            ]

            r = await viewer.get("/api/suppression/acme/BOB@x.example")
            entry = await r.json()
            assert (r.status, entry["address"], entry["active"]) == (200, "bob@x.example", True)
            r = await viewer.get("/api/suppression/beta/bob@x.example")
            assert await error_of(r) == (404, "not_suppressed", None)

            r = await op.post(
                "/api/suppression",
                json={
                    "tenant": "global",
                    "addresses": ["c@x.example", "d@x.example"],
                    "reason": "complaint",
                    "expires": "2999-01-01T00:00:00Z",
                },
            )
            assert r.status == 200
            r = await viewer.get("/api/suppression/global/c@x.example")
            assert (await r.json())["expires"] == 32472144000.0

            r = await viewer.delete("/api/suppression/acme/bob@x.example")
            assert r.status == 403
            r = await op.delete("/api/suppression/acme/bob@x.example")
            assert r.status == 200
            assert (await r.json())["removed"]["address"] == "bob@x.example"
            r = await op.delete("/api/suppression/acme/bob@x.example")
            assert await error_of(r) == (404, "not_suppressed", None)
            assert isinstance((await store.suppression_changes(0))[-1][1], Removal)

    audit = {e.action: e.as_dict() for e in await store.audit_entries()}
    assert audit["suppression.add"]["actor"] == "operator"
    removed = audit["suppression.remove"]
    assert (removed["target"], removed["before"]["address"], removed["after"]) == (
        "acme:bob@x.example",
        "bob@x.example",
        None,
    )


async def test_bad_writes_are_refused_naming_the_field_and_write_nothing(store):
    async with serve_admin(settings(), store) as server, server.session("operator") as op:
        for body, field in [
            (
                {"tenant": "acme", "addresses": ["a@x.example", "b@x.example", "nope"]},
                "addresses[2]",
            ),
            ({"tenant": "acme", "addresses": ["a@x.example", 7]}, "addresses[1]"),
            ({"tenant": "acme", "address": "a b@x.example"}, "address"),
            ({"tenant": "acme"}, "address"),
            ({"tenant": "acme", "address": "a@x.example", "addresses": []}, "address"),
            ({"tenant": "acme", "addresses": []}, "addresses"),
            ({"tenant": "nosuch", "address": "a@x.example"}, "tenant"),
            ({"address": "a@x.example"}, "tenant"),
            ({"tenant": "acme", "address": "a@x.example", "reason": "bored"}, "reason"),
            ({"tenant": "acme", "address": "a@x.example", "expires": T0}, "expires"),
            ({"tenant": "acme", "address": "a@x.example", "expires": "soon"}, "expires"),
            ({"tenant": "acme", "address": "a@x.example", "note": "x"}, "note"),
        ]:
            r = await op.post("/api/suppression", json=body)
            status, _, got = await error_of(r)
            assert (status, got) == (422, field), body
        r = await op.post("/api/suppression", json={"tenant": "acme", "addresses": ["x"] * 2})
        assert "addresses[0]" in (await r.json())["error"]["message"]
    assert await store.suppression_changes(0) == []


async def seed(store) -> list[Suppression]:
    entries = [
        Suppression("acme", "ann@one.example", "hard_bounce", "dsn:userunknown", T0),
        Suppression("acme", "bob@two.example", "complaint", "arf:feedback", T0 + 10),
        Suppression("acme", "a_b@one.example", "manual", "cli:alice", T0 + 20),
        Suppression("beta", "ann@one.example", "unsubscribe", "link", T0 + 30),
        Suppression("", "zed@one.example", "manual", "import:cli:bob", T0 + 40, T0 + 99_999),
    ]
    await store.suppress(entries)
    return entries


async def addresses(session, query: str) -> list[str]:
    r = await session.get("/api/suppression?" + query)
    assert r.status == 200, await r.text()
    return [f"{i['tenant'] or 'global'}:{i['address']}" for i in (await r.json())["items"]]


async def test_list_filters(store):
    await seed(store)
    async with serve_admin(settings(), store) as server, server.session("viewer") as v:
        assert len(await addresses(v, "")) == 5
        assert await addresses(v, "tenant=acme") == [
            "acme:a_b@one.example",
            "acme:ann@one.example",
            "acme:bob@two.example",
        ]
        assert await addresses(v, "tenant=global") == ["global:zed@one.example"]
        assert await addresses(v, "tenant=") == ["global:zed@one.example"]
        assert await addresses(v, "reason=complaint") == ["acme:bob@two.example"]
        assert await addresses(v, "source=dsn") == ["acme:ann@one.example"]
        assert await addresses(v, "source=import") == ["global:zed@one.example"]
        assert await addresses(v, "q=%40TWO.example") == ["acme:bob@two.example"]
        # A substring, not a pattern: "_" is a character of the address, not a wildcard.
        assert await addresses(v, "q=a_b") == ["acme:a_b@one.example"]
        assert await addresses(v, "q=a%25b") == []
        assert await addresses(v, f"since={T0 + 10}&until={T0 + 31}") == [
            "acme:a_b@one.example",
            "acme:bob@two.example",
            "beta:ann@one.example",
        ]
        assert await addresses(v, "tenant=beta&q=ann&since=2023-11-14T22:13:50Z") == [
            "beta:ann@one.example"
        ]
        for query, field in [
            ("reason=bored", "reason"),
            ("since=yesterday", "since"),
            (f"since={T0}&until={T0}", "until"),
            ("limit=0", "limit"),
            ("limit=1001", "limit"),
            ("cursor=garbage", "cursor"),
        ]:
            r = await v.get("/api/suppression?" + query)
            assert (await error_of(r))[::2] == (400, field), query


async def walk(session, path: str, limit: int, between=None) -> list[list[dict]]:
    """Every page of a list, calling ``between(page_number)`` after each one."""
    pages, cursor = [], ""
    for number in range(100):
        sep = "&" if "?" in path else "?"
        r = await session.get(f"{path}{sep}limit={limit}&cursor={cursor}")
        assert r.status == 200, await r.text()
        body = await r.json()
        pages.append(body["items"])
        if between is not None:
            await between(number)
        cursor = body["next_cursor"]
        if cursor is None:
            return pages
    raise AssertionError("the walk did not end")


async def test_pages_cover_every_entry_once_while_entries_are_added(store):
    first = [Suppression("acme", f"m{i:02}@x.example", "manual", "t", T0) for i in range(0, 40, 2)]
    await store.suppress(first)
    added: list[str] = []

    async def insert(number: int) -> None:
        # One entry behind the walk (never shown) and one ahead of it (shown once).
        if number < 3:
            behind, ahead = f"a{number}", f"z{number}"
            await store.suppress(
                [Suppression("acme", f"{a}@x.example", "manual", "t", T0) for a in (behind, ahead)]
            )
            added.append(f"{ahead}@x.example")

    async with serve_admin(settings(), store) as server, server.session("viewer") as v:
        pages = await walk(v, "/api/suppression?tenant=acme", 7, insert)
    seen = [i["address"] for page in pages for i in page]
    assert len(seen) == len(set(seen)), "an entry came twice"
    assert seen == sorted(seen)
    assert set(seen) == {e.address for e in first} | set(added)
    assert all(len(page) <= 7 for page in pages)


CSV_BAD = (
    "address,tenant,reason\n"
    "ok1@x.example,acme,manual\n"
    "not-an-address,acme,manual\n"
    "ok2@x.example,nosuch,manual\n"
    "ok3@x.example,,bored\n"
    "ok4@x.example,beta,\n"
)


async def test_import_is_all_or_nothing_and_names_each_bad_line(store):
    async with serve_admin(settings(), store) as server:
        async with server.session("operator") as op, server.session("viewer") as viewer:
            csv_type = {"Content-Type": "text/csv"}
            r = await op.post("/api/suppression/import?tenant=acme", data=CSV_BAD, headers=csv_type)
            assert r.status == 422
            error = (await r.json())["error"]
            assert (error["code"], error["field"]) == ("invalid_csv", "body")
            assert [line["line"] for line in error["lines"]] == [3, 4, 5]
            assert "line 4: tenant: no tenant 'nosuch'" in error["message"]
            assert await store.suppression_changes(0) == []

            r = await op.post("/api/suppression/import", data="mail\nx@y.z\n", headers=csv_type)
            assert [line["line"] for line in (await r.json())["error"]["lines"]] == [1]
            r = await op.post("/api/suppression/import", data=b'{"address": 1}')
            assert (await error_of(r))[:2] == (415, "unsupported_media_type")
            r = await op.post(
                "/api/suppression/import?tenant=nosuch", data="address\n", headers=csv_type
            )
            assert (await error_of(r))[::2] == (400, "tenant")
            r = await viewer.post("/api/suppression/import", data="address\n", headers=csv_type)
            assert r.status == 403

            good = "\n".join([*CSV_BAD.splitlines()[:2], "ok4@x.example,beta,"]) + "\n"
            r = await op.post(
                "/api/suppression/import?tenant=acme&reason=complaint",
                data=good,
                headers=csv_type,
            )
            assert (r.status, await r.json()) == (200, {"imported": 2})
    found = {(e.tenant, e.address, e.reason, e.source) for e in await store.suppressions()}
    assert found == {
        ("acme", "ok1@x.example", "manual", "import:api:operator"),
        ("beta", "ok4@x.example", "complaint", "import:api:operator"),
    }
    (entry,) = [e for e in await store.audit_entries() if e.action == "suppression.import"]
    assert entry.as_dict()["after"]["count"] == 2


async def test_export_imports_back_as_it_was(store):
    entries = await seed(store)
    async with serve_admin(settings(), store) as server:
        async with server.session("viewer") as viewer, server.session("operator") as op:
            r = await viewer.get("/api/suppression/export")
            assert r.headers["Content-Type"].startswith("text/csv")
            text = await r.text()
            r = await viewer.get("/api/suppression/export?tenant=acme&reason=complaint")
            rows = list(csv.DictReader(io.StringIO(await r.text())))
            assert [row["address"] for row in rows] == ["bob@two.example"]
            r = await viewer.get("/api/suppression/export?q=nobody")
            assert await r.text() == "address,tenant,reason,source,created_at,expires_at\n"

            for e in entries:
                await store.unsuppress(e.tenant, [e.address])
            assert await store.suppressions() == []
            r = await op.post(
                "/api/suppression/import", data=text, headers={"Content-Type": "text/csv"}
            )
            assert (r.status, await r.json()) == (200, {"imported": len(entries)})
    assert sorted(await store.suppressions(), key=lambda e: (e.tenant, e.address)) == sorted(
        entries, key=lambda e: (e.tenant, e.address)
    )


async def test_export_of_many_entries_streams_them_all(store):
    count = 20_000
    await store.suppress(
        [Suppression("acme", f"r{i:06}@x.example", "manual", "t", T0) for i in range(count)]
    )
    async with serve_admin(settings(), store) as server, server.session("viewer") as viewer:
        r = await viewer.get("/api/suppression/export?tenant=acme")
        assert r.headers.get("Transfer-Encoding") == "chunked"
        chunks, lines = 0, []
        async for chunk in r.content.iter_chunked(64 * 1024):
            chunks += 1
            lines.append(chunk)
    rows = b"".join(lines).decode().splitlines()
    assert rows[0] == "address,tenant,reason,source,created_at,expires_at"
    assert len(rows) == count + 1
    assert len({row.split(",")[0] for row in rows[1:]}) == count
    assert chunks > 1
