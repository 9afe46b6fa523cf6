"""POST /api/prospects/{tenant} over HTTP: the ingest key, per-item validation with MX
answered by a loopback DNS server, deduplication, idempotency, and the store after."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.api.test_api_lists_suppression import error_of
from tests.support.admin_api import serve_admin
from tests.support.dns_server import DnsServer
from tests.support.prospects import KEY, OLD_KEY, mx_records, prospect, settings

URL = "/api/prospects/acme"


@pytest.fixture
async def dns() -> AsyncIterator[DnsServer]:
    async with DnsServer(mx_records()) as server:
        yield server


def key(k: str = KEY) -> dict[str, str]:
    return {"X-Api-Key": k}


async def test_the_key_is_required_and_checked_and_bearer_tokens_do_not_do(store, dns):
    async with serve_admin(settings(dns.port), store) as server:
        body = {"prospects": [prospect("ann@ann-cuisine.fr")]}
        async with server.session("admin") as admin:  # a bearer token is no ingest key
            r = await admin.post(URL, json=body)
            assert await error_of(r) == (401, "unauthorized", "X-Api-Key")
            assert "X-Api-Key" in (await r.json())["error"]["message"]
            r = await admin.post(URL, json=body, headers=key("wrong"))
            assert await error_of(r) == (401, "unauthorized", "X-Api-Key")
            # beta has no ingest keys; an unknown tenant answers the same (no tenant probing).
            for url in ("/api/prospects/beta", "/api/prospects/nobody"):
                assert (await admin.post(url, json=body, headers=key())).status == 401
            # The old key still works while it is listed (rotation); its name is the source.
            r = await admin.post(URL, json=body, headers=key(OLD_KEY))
            assert r.status == 200, await r.text()
        assert (await store.contact("acme", "ann@ann-cuisine.fr")).source == "old"
        # Nothing of an unauthenticated body is read: not even a malformed one is judged.
        async with server.session(None) as anon:
            r = await anon.post(URL, data=b"{not json")
            assert r.status == 401
            r = await anon.post(URL, data=b"{not json", headers=key())
            assert r.status == 400


async def test_per_item_results_validation_dedup_and_flags(store, dns):
    items = [
        prospect("ann@ann-cuisine.fr", name="Ann Martin", domain="https://www.ann-cuisine.fr/a"),
        prospect("not-an-address"),
        prospect("bob@ann-cuisine.fr", domain="ann-cuisine.fr"),  # the same site: duplicate
        prospect("ANN@ann-cuisine.fr"),  # the same email: duplicate
        prospect("zoe@no-such-domain.example"),  # NXDOMAIN
        prospect("nul@nullmx.example"),  # a null MX takes no mail
        prospect("info@media.example", domain="media.example"),  # role
        prospect("x@mailinator.com"),  # disposable
        prospect("tim@blog.example", tier=42),
        prospect("eve@blog.example", colour="red"),
    ]
    dns.silent_zones.add("slow.example")
    items.append(prospect("sam@slow.example"))  # no answer in time: unverified, kept
    async with serve_admin(settings(dns.port), store) as server:
        async with server.session(None) as s:
            r = await s.post(URL, json={"prospects": items, "source": "crm"}, headers=key())
            assert r.status == 200, await r.text()
            out = await r.json()
    got = [(i["index"], i["result"], i["reason"]) for i in out["items"]]
    assert [(i, res) for i, res, _ in got] == [
        (0, "created"), (1, "invalid"), (2, "duplicate"), (3, "duplicate"), (4, "invalid"),
        (5, "invalid"), (6, "created"), (7, "created"), (8, "invalid"), (9, "invalid"),
        (10, "created"),
    ]  # fmt: skip
    reasons = {i: reason for i, _, reason in got}
    assert "not an address" in reasons[1]
    assert "no MX record" in reasons[4] and "no MX record" in reasons[5]
    assert (reasons[6], reasons[7], reasons[10]) == ("role", "disposable", "unverified")
    assert reasons[8].startswith("tier:") and reasons[9].startswith("colour: unknown field")
    assert (out["created"], out["invalid"], out["duplicate"], out["updated"]) == (4, 5, 2, 0)
    ann = await store.contact("acme", "ann@ann-cuisine.fr")
    assert (ann.first_name, ann.last_name, ann.source, ann.custom["website"]) == (
        "Ann", "Martin", "crm", "ann-cuisine.fr",
    )  # fmt: skip
    row = await store.prospect("acme", "sam@slow.example")
    assert (row.mx, row.status) == ("unknown", "ready")
    assert (await store.prospect("acme", "info@media.example")).role is True
    assert await store.contact("acme", "zoe@no-such-domain.example") is None


async def test_posting_twice_is_idempotent_and_a_change_updates(store, dns):
    items = [prospect(f"p{i}@blog.example", domain=f"site{i}.example") for i in range(3)]
    async with serve_admin(settings(dns.port), store) as server:
        async with server.session(None) as s:
            first = await (await s.post(URL, json={"prospects": items}, headers=key())).json()
            assert first["created"] == 3
            queries = len(dns.queries)
            again = await (await s.post(URL, json={"prospects": items}, headers=key())).json()
            assert (again["created"], again["unchanged"]) == (0, 3)
            assert len(dns.queries) == queries == 1  # one lookup per domain, then kept
            items[1]["score"] = 95
            third = await (await s.post(URL, json={"prospects": items}, headers=key())).json()
            assert [i["result"] for i in third["items"]] == ["unchanged", "updated", "unchanged"]
    assert (await store.contact("acme", "p1@blog.example")).score == 95
    assert (await store.prospect_counts("acme")) == {"ready": 3}


async def test_batch_bounds(store, dns):
    async with serve_admin(settings(dns.port), store) as server:
        async with server.session(None) as s:
            many = {"prospects": [prospect(f"p{i}@blog.example") for i in range(501)]}
            assert await error_of(await s.post(URL, json=many, headers=key())) == (
                422, "invalid_field", "prospects",
            )  # fmt: skip
            r = await s.post(URL, json={"prospects": []}, headers=key())
            assert r.status == 200 and (await r.json())["items"] == []
            r = await s.post(URL, json={"items": []}, headers=key())
            assert r.status == 422
            # An item that is not an object is the batch's error, named by its index.
            r = await s.post(URL, json={"prospects": [prospect("a@blog.example"), "x"]},
                             headers=key())  # fmt: skip
            assert await error_of(r) == (422, "invalid_field", "prospects[1]")
