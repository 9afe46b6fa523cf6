"""Contacts and templates over HTTP: batches with per-index errors, CSV all or nothing,
streamed export, pages; templates checked at save, preview, variants."""

from __future__ import annotations

import csv
import io

from tests.api.test_api_lists_suppression import error_of, settings
from tests.support.admin_api import serve_admin

CSV = {"Content-Type": "text/csv"}


async def test_batch_upsert_pages_and_one_contact(store):
    async with serve_admin(settings(), store) as server:
        async with server.session("operator") as op, server.session("viewer") as viewer:
            batch = [{"email": f"p{i:04d}@x.example", "language": "fr", "tags": ["vip"]}
                     for i in range(5000)]  # fmt: skip
            r = await op.post("/api/contacts/acme", json={"contacts": batch})
            assert (await r.json()) == {"created": 5000, "updated": 0, "errors": []}
            mixed = [{"email": "p0000@x.example", "first_name": "Pat"},
                     {"email": "not-an-address", "score": 500}, {"colour": "red"}]  # fmt: skip
            got = await (await op.post("/api/contacts/acme", json={"contacts": mixed})).json()
            assert (got["created"], got["updated"]) == (0, 1)
            assert {(e["index"], e["field"]) for e in got["errors"]} == {
                (1, "email"), (1, "score"), (2, "colour"), (2, "email"),
            }  # fmt: skip
            too_many = {"contacts": [{"email": "a@x.example"}] * 5001}
            assert (await error_of(await op.post("/api/contacts/acme", json=too_many)))[0] == 422
            assert (await viewer.post("/api/contacts/acme", json={"contacts": []})).status == 403
            page = await (await viewer.get("/api/contacts/acme", params={"limit": 2})).json()
            assert [c["email"] for c in page["contacts"]] == ["p0000@x.example", "p0001@x.example"]
            nxt = await (
                await viewer.get("/api/contacts/acme", params={"limit": 2, "after": page["next"]})
            ).json()
            assert nxt["contacts"][0]["email"] == "p0002@x.example"
            bogus = await viewer.get("/api/contacts/acme", params={"status": "bogus"})
            assert await error_of(bogus) == (400, "invalid_parameter", "status")
            one = await (await viewer.get("/api/contacts/acme/P0000@X.example")).json()
            assert (one["first_name"], one["tags"], one["language"]) == ("Pat", ["vip"], "fr")
            assert (await viewer.get("/api/contacts/nope/p0000@x.example")).status == 404
            assert (await op.delete("/api/contacts/acme/p0000@x.example")).status == 200
            assert (await viewer.get("/api/contacts/acme/p0000@x.example")).status == 404


async def test_csv_import_is_all_or_nothing_and_the_export_reads_back(store):
    good = ("email,first_name,tags,custom,score\n"
            'a@x.example,Ann,vip;paris,"{""company"": ""A""}",70\n'
            "b@x.example,Bob,,,\n")  # fmt: skip
    bad = good + "c@x.example,Cat,,[1],\nnot-an-address,Dan,,,200\n"
    async with serve_admin(settings(), store) as server:
        async with server.session("operator") as op:
            r = await op.post("/api/contacts/acme/import", data=bad, headers=CSV)
            body = await r.json()
            assert r.status == 422
            assert [(x["row"], x["column"]) for x in body["error"]["rows"]] == [
                (4, "custom"), (5, "email"), (5, "score"),
            ]  # fmt: skip
            assert (await (await op.get("/api/contacts/acme")).json())["contacts"] == []
            r = await op.post("/api/contacts/acme/import", data=good, headers=CSV)
            assert (await r.json())["created"] == 2
            exported = await (await op.get("/api/contacts/acme/export")).text()
            rows = list(csv.DictReader(io.StringIO(exported)))
            assert [(x["email"], x["tags"], x["score"]) for x in rows] == [
                ("a@x.example", "vip;paris", "70.0"), ("b@x.example", "", ""),
            ]  # fmt: skip
            again = await op.post("/api/contacts/acme/import", data=exported, headers=CSV)
            assert (await again.json()) == {"created": 0, "updated": 2, "errors": []}
            assert (await op.post("/api/contacts/acme/import", json={})).status == 415


async def test_templates_are_checked_saved_by_variant_and_previewed(store):
    intro = {"name": "intro", "subject": "Hi [FNAME]", "text": "Hello {{ first_name }}\n",
             "html": "<p>{{ custom.company | default('your team') }}</p>"}  # fmt: skip
    async with serve_admin(settings(), store) as server:
        async with server.session("admin") as admin, server.session("viewer") as viewer:
            typo = {**intro, "text": "Hello\n{{ frist_name }}"}
            r = await admin.post("/api/templates/acme", json=typo)
            err = (await r.json())["error"]
            assert (r.status, err["field"]) == (422, "text")
            assert "text line 2: unknown variable 'frist_name'" in err["message"]
            assert (await admin.post("/api/templates/acme", json=intro)).status == 201
            assert (await admin.post("/api/templates/acme", json=intro)).status == 409
            fr = {**intro, "language": "fr", "text": "Bonjour {{ first_name }}\n"}
            assert (await admin.post("/api/templates/acme", json=fr)).status == 201
            listed = await (await viewer.get("/api/templates/acme")).json()
            assert [(t["name"], t["language"]) for t in listed["templates"]] == [
                ("intro", ""), ("intro", "fr"),
            ]  # fmt: skip
            shown = await (await viewer.get("/api/templates/acme/intro?language=fr")).json()
            assert shown["variables"]["text"] == ["first_name"]
            sample = {"sample": {"first_name": "Léa", "language": "fr"}}
            p = await (await viewer.post("/api/templates/acme/intro/preview", json=sample)).json()
            assert (p["subject"], p["text"], p["html"]) == (
                "Hi Léa", "Bonjour Léa\n", "<p>your team</p>",
            )  # fmt: skip
            r = await viewer.post("/api/templates/acme/intro/preview", json={"sample": {}})
            err = (await r.json())["error"]
            assert r.status == 422 and "first_name" in err["message"]
            changed = {**intro, "subject": "Hello [FNAME]"}
            assert (await admin.put("/api/templates/acme/intro", json=changed)).status == 200
            # A PUT's body may leave out the name its path gives; it may not change it.
            nameless = {k: v for k, v in changed.items() if k != "name"}
            r = await admin.put("/api/templates/acme/intro", json=nameless)
            assert (r.status, (await r.json())["name"]) == (200, "intro")
            renamed = {**changed, "name": "other"}
            r = await admin.put("/api/templates/acme/intro", json=renamed)
            assert (r.status, (await r.json())["error"]["field"]) == (422, "name")
            r = await admin.put("/api/templates/acme/intro", data=b"[1]")
            assert (r.status, (await r.json())["error"]["code"]) == (400, "invalid_json")
            # What the template's own code raises on the sample is a 422 naming the part.
            big = {"name": "big", "subject": "Hi", "text": "{{ range(10 ** 6) | list }}"}
            assert (await admin.post("/api/templates/acme", json=big)).status == 201
            r = await viewer.post("/api/templates/acme/big/preview", json={"sample": {}})
            err = (await r.json())["error"]
            assert (r.status, err["code"], err["field"]) == (422, "render_failed", "text")
            assert "Range too big" in err["message"]
            r = await admin.delete("/api/templates/acme/intro?language=fr")
            assert r.status == 200
            assert (await viewer.get("/api/templates/acme/intro?language=fr")).status == 404
