"""The admin API's description (/api/openapi.json) against the router and the live answers.

Three ways it could lie: a route it does not describe (or an operation no
route serves), a document that is not OpenAPI 3, and answers that differ
from what it promises. Schemathesis sends every described operation
generated requests, valid and invalid, over loopback with the admin token,
and checks each answer: no 5xx, a documented status, the documented
content type, a body that fits the documented schema, and invalid input
refused. The generation is derandomized: every run sends the same requests.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.specs.openapi.definitions import OPENAPI_31_VALIDATOR  # the spec's meta-schema

import conf
from policy.engagement import Engagement
from policy.events import Event
from policy.replies.record import ReplyRow
from policy.scenarios.contacts import Contact
from policy.scenarios.templates import Template
from policy.store import open_store
from policy.suppression import GLOBAL, Suppression
from tests.support.admin_api import TOKENS, AdminServer, serve_admin

NOW = datetime(2026, 11, 21, 17, 30, tzinfo=UTC)
WARM, WARMING, OTHER = "192.0.2.10", "192.0.2.12", "198.51.100.5"
SUPPRESSED = "gone@x.example"
INGEST_KEY = "ingest-key-of-acme-0123"
EXAMPLES = 25  # per operation and generation mode: about 900 requests in all
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]

CONFIG = """
enrollment: {mx_timeout: 0.2, mx_budget: 0.5}
warmup:
  resolver: "127.0.0.1:9"
  schedules:
    short: {default: [100, 200, 400], google: [20, 40, 80]}
  rotation:
    acme: {every_days: 30, rewarm_schedule: short}
tenants:
  - name: acme
    pool: acme
    timezone: America/New_York
    credentials: [{username: acme, password_hash: "scrypt$16384$8$1$c2FsdA==$aGFzaA=="}]
    sender_domains: [a.example]
    dkim: [{domain: a.example, selector: s1, key_file: KEYS/ed.pem}]
    ingest_keys: [{name: scraper, key_sha256: "INGEST_SHA"}]
  - {name: beta, pool: beta, trusted_networks: [127.0.0.2/32], sender_domains: [b.example]}
pools:
  acme:
    - {ip: WARM, vmta: acme-1, hostname: h1.a.example, daily_limit: 500}
    - {ip: WARMING, vmta: acme-2, hostname: h2.a.example,
       warmup: {schedule: short, started: "2026-11-20"}}
  beta:
    - {ip: OTHER, vmta: beta-1, hostname: b1.b.example,
       warmup: {schedule: short, started: "2026-11-21"}}
"""

# Real values for path parameters, so generated requests reach past the 404s.
KNOWN = {
    "tenant": ["acme", "beta", "global"],
    "ip": [WARM, WARMING, OTHER],
    "kind": ["pause", "dry-run"],
    "address": [SUPPRESSED],
    "domain": ["a.example"],
    "name": ["intro"],
    "email": ["ann@x.example"],
    "action": ["start", "pause", "resume", "cancel"],
    "pool": ["acme"],
    "move": ["skip", "trigger"],
    "id": ["1"],
}


def settings_for(tmp_path: Path) -> conf.Settings:
    key = ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    (tmp_path / "ed.pem").write_bytes(key)
    text = CONFIG.replace("KEYS", str(tmp_path)).replace("WARMING", WARMING)
    text = text.replace("INGEST_SHA", hashlib.sha256(INGEST_KEY.encode()).hexdigest())
    return conf.parse(text.replace("WARM", WARM).replace("OTHER", OTHER), environ={})


async def _seed(store: Any) -> None:
    at = NOW.timestamp() - 3600
    await store.record(
        [
            Event(
                kind,
                client="c",
                mail_from="s@a.example",
                recipients=("r@x.example",),
                at=at,
                tenant="acme",
                ip=WARM,
                job="spring",
            )
            for kind in ("relayed", "bounced", "complained", "deferred")
        ]
    )
    await store.record_engagement(
        [Engagement("open", "acme", "spring", "<m1@a.example>", "r@x.example", at=at)]
    )
    await store.suppress(
        [
            Suppression(tenant, SUPPRESSED, "manual", "test", at, None)
            for tenant in ("acme", "beta", GLOBAL)
        ]
    )
    for tenant in ("acme", "beta"):
        await store.upsert_contacts(tenant, [Contact(tenant, "ann@x.example", "Ann")])
        for name in ("intro", "kept"):
            await store.save_template(Template(tenant, name, "Hi {{ first_name }}", text="Hi"))
        for name in ("intro", "editable"):
            body = scenario_body(name)
            await store.save_scenario(tenant, name, json.dumps(body), None, None, at)
        # A reply (id 1 for acme) for GET /api/replies and its review.
        row = ReplyRow(
            0, f"seed:{tenant}", tenant, "ann@x.example", "intro", "hello", "e-1",
            "m1@a.example", "r1@x.example", "smtp", "ann@x.example", "Re: Hi", "other", 0.0,
            "fallback", True, None, "", "Tell me more", at, at,
        )  # fmt: skip
        await store.add_reply(row, b"From: ann@x.example\r\n\r\nTell me more\r\n")


def scenario_body(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "from": "Anna <anna@a.example>",
        "steps": [{"id": "hello", "trigger": "entry", "template": "hello"}],
    }


async def _reload() -> str | None:
    return None


@pytest.fixture
async def server(tmp_path: Path, sqlite_url: str) -> AsyncIterator[AdminServer]:
    store = open_store(sqlite_url)
    await store.open()
    await _seed(store)
    try:
        async with serve_admin(
            settings_for(tmp_path), store, reload=_reload, clock=lambda: NOW
        ) as running:
            yield running
    finally:
        await store.close()


async def _description(server: AdminServer) -> dict:
    async with server.session(None) as anon:
        r = await anon.get("/api/openapi.json")
        assert r.status == 200
        return await r.json()


def _canonical(path: str) -> str:
    return web.Application().router.add_resource(path).canonical


async def test_every_api_route_is_described_and_every_operation_routed(server):
    spec = await _description(server)
    routed = {
        (route.method, route.resource.canonical)
        for route in server.app.router.routes()
        if route.resource is not None and route.resource.canonical.startswith("/api/")
    }
    described = {
        (method.upper(), _canonical(path))
        for path, operations in spec["paths"].items()
        for method in operations
    }
    assert routed - described == set(), "routed but not described"
    assert described - routed == set(), "described but not routed"
    # A template of the description is a plain OpenAPI one (no aiohttp regex in it).
    assert all(_canonical(path) == path for path in spec["paths"])
    assert len(routed) >= 25  # every module of API_MODULES took part


async def test_a_method_no_operation_describes_is_405_naming_the_described_ones(server):
    spec = await _description(server)
    async with server.session("admin") as admin:
        for path, operations in spec["paths"].items():
            url = path
            for name, values in KNOWN.items():
                url = url.replace(f"{{{name}}}", values[0])
            method = next(m for m in ("PATCH", "PUT", "DELETE") if m.lower() not in operations)
            r = await admin.request(method, url)
            assert r.status == 405, (method, url)
            assert sorted(r.headers["Allow"].split(",")) == sorted(m.upper() for m in operations)
            assert (await r.json())["error"]["code"] == "method_not_allowed"


CSV = {"Content-Type": "text/csv"}
# Requests generated ones once found answered otherwise than described, and what they
# get now: (method, path, operation's template, request, status).
FOUND = [
    # A lone CR ends a CSV line; what the csv module cannot read is a 422 (both were 500s).
    (
        "POST",
        "/api/suppression/import",
        None,
        {"data": "address\rb@x.example", "headers": CSV},
        200,
    ),
    (
        "POST",
        "/api/suppression/import",
        None,
        {"data": 'address\n"' + "x" * 200_000, "headers": CSV},
        422,
    ),
    # Not CSV: 415, described now.
    ("POST", "/api/suppression/import", None, {"json": {"address": "b@x.example"}}, 415),
    # null is taken for an absent optional field, as described now.
    ("POST", "/api/switches/pause/on", "/api/switches/{kind}/on", {"json": {"tenant": None}}, 200),
    (
        "POST",
        f"/api/ips/{WARM}/actions",
        "/api/ips/{ip}/actions",
        {"json": {"action": "pause", "day": None}},
        200,
    ),
    (
        "POST",
        "/api/quotas/acme/check",
        "/api/quotas/{tenant}/check",
        {"json": {"emails_to_send": 5, "provider_group": None}},
        200,
    ),
    (
        "POST",
        "/api/suppression",
        None,
        {"json": {"tenant": "acme", "address": "c@x.example", "reason": None, "expires": None}},
        200,
    ),
    # A switch's body may be left out, as described now.
    ("POST", "/api/switches/pause/off", "/api/switches/{kind}/off", {}, 200),
    # An empty query value is taken for an absent one, as described now.
    ("GET", "/api/engagement", None, {"params": {"classification": "", "kind": ""}}, 200),
    ("GET", "/api/suppression/export", None, {"params": {"reason": "", "since": ""}}, 200),
]


async def test_answers_once_found_wrong_are_as_described(server):
    spec = await _description(server)
    async with server.session("admin") as admin:
        for method, path, template, request, status in FOUND:
            r = await admin.request(method, path, **request)
            assert r.status == status, (method, path, await r.text())
            described = spec["paths"][template or path][method.lower()]["responses"]
            assert str(r.status) in described, (method, path)


async def test_the_description_is_valid_openapi_3(server):
    spec = await _description(server)
    assert spec["openapi"].startswith("3.1.")
    problems = [f"{e.instance_path}: {e.message}" for e in OPENAPI_31_VALIDATOR.iter_errors(spec)]
    assert problems == []
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            # Every path template's names are declared, once each, as path parameters.
            names = [p["name"] for p in operation["parameters"] if p["in"] == "path"]
            assert sorted(names) == sorted(
                part[1:-1] for part in path.split("/") if part.startswith("{")
            ), (method, path)
            assert len({(p["name"], p["in"]) for p in operation["parameters"]}) == len(
                operation["parameters"]
            ), (method, path)


def _strategy(operation: Any, mode: schemathesis.GenerationMode) -> st.SearchStrategy:
    """Generated cases; in most, the path names real things, so the request gets past the 404.

    Valid cases also name a real tenant (and a real address) in the query and the body
    about half of the time, so the answers past that check are tried too.
    """
    auth = {"Authorization": f"Bearer {TOKENS['admin']}"}
    names = [p.name for p in operation.path_parameters]
    anything = operation.as_strategy(mode, headers=auth)
    cases = anything
    if names:
        known = st.fixed_dictionaries({name: st.sampled_from(KNOWN[name]) for name in names})
        real = known.flatmap(
            lambda params: operation.as_strategy(mode, headers=auth, path_parameters=params)
        )
        # An invalid case keeps the real path: its invalid part must be what is refused.
        cases = real if mode.is_negative else st.one_of(real, anything)
    if mode.is_negative:
        return cases
    tenants = st.sampled_from(["acme", "beta"])
    return st.tuples(cases, tenants, st.booleans()).map(_with_real_values)


_NAMES = itertools.count()


def _with_real_values(drawn: tuple[Any, str, bool]) -> Any:
    case, tenant, swap = drawn
    if case.path in ("/api/scenarios/{tenant}", "/api/scenarios/{tenant}/{name}") and (
        case.method in ("POST", "PUT")
    ):  # a whole valid scenario is beyond what a generator finds by chance
        case.path_parameters["tenant"] = tenant
        name = f"new-{next(_NAMES)}"
        if case.method == "PUT":  # one no generated action ends (cancel would: 409)
            name = case.path_parameters["name"] = "editable"
        case.body = scenario_body(name)
        case.media_type = "application/json"
        return case
    if case.path.startswith("/api/templates/{tenant}") and case.method in ("POST", "PUT"):
        case.path_parameters["tenant"] = tenant
        if case.path.endswith("/preview"):
            case.path_parameters["name"] = "kept"  # one no generated DELETE removes
            case.body = {"sample": {"first_name": "Ann"}}
        else:
            name = f"t{next(_NAMES)}" if case.method == "POST" else "intro"
            if case.method == "PUT":
                case.path_parameters["name"] = name
            case.body = {"name": name, "subject": "Hi {{ first_name }}", "text": "Hello"}
        case.media_type = "application/json"
        return case
    if case.path == "/api/prospects/{tenant}":  # its own key, not the bearer token
        case.path_parameters["tenant"] = "acme"
        case.headers = {**(case.headers or {}), "X-Api-Key": INGEST_KEY}
        if not isinstance(case.body, dict) or not isinstance(case.body.get("prospects"), list):
            case.body = {"prospects": [{"email": "new@x.example", "score": 70}]}
        case.media_type = "application/json"
        return case
    if case.path == "/api/contacts/{tenant}/import":
        case.path_parameters["tenant"] = tenant
        case.body = "email,first_name\nnew@x.example,New\n"
        case.media_type = "text/csv"
        return case
    if not swap:
        return case
    if isinstance(case.query, dict) and "tenant" in case.query:
        case.query["tenant"] = tenant
    if isinstance(case.body, dict):
        if "tenant" in case.body:
            case.body["tenant"] = tenant
        if "address" in case.body:
            case.body["address"] = "new@x.example"
        if isinstance(case.body.get("addresses"), list):
            case.body["addresses"] = ["new@x.example", "other@x.example"]
        if "expires" in case.body:
            case.body["expires"] = NOW.timestamp() + 86400
    if case.media_type == "text/csv":
        case.body = "address,reason\nnew@x.example,manual\n"
    return case


def _run(operation: Any, mode: schemathesis.GenerationMode, base_url: str) -> list[int]:
    """Send the operation its generated cases; the statuses answered. Raises on a failed check."""
    checks = CHECKS + ([negative_data_rejection] if mode.is_negative else [])
    statuses: list[int] = []

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,  # the same requests every run
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=_strategy(operation, mode))
    def run(case: Any) -> None:
        response = case.call(base_url=base_url, timeout=10)
        statuses.append(response.status_code)
        case.validate_response(response, checks=checks)

    run()
    return statuses


def _exercise(spec: dict, base_url: str) -> tuple[list[str], dict[str, list[int]]]:
    """Every operation in both generation modes: the failures (one per operation and mode)
    and the statuses each operation answered to valid cases."""
    schema = schemathesis.openapi.from_dict(spec, config=SchemathesisConfig())
    failures, answered = [], {}
    # Wrong ingest keys (negative cases of POST /api/prospects) brake the client as failed
    # logins do, and the server's clock stands still: that operation goes last.
    operations = sorted(
        (r.ok() for r in schema.get_all_operations()), key=lambda o: "prospects" in o.path
    )
    for operation in operations:
        for mode in schemathesis.GenerationMode:
            try:
                statuses = _run(operation, mode, base_url)
            except Unsatisfiable:
                # Nothing of it can be invalid (no body or query, a free-text path).
                if not mode.is_negative:
                    failures.append(f"{operation.label}: no valid case")
                continue
            except (Exception, FailureGroup) as exc:  # FailureGroup is a BaseException
                failures.append(f"{operation.label} ({mode.value}): {exc}")
                continue
            if not mode.is_negative:
                answered[operation.label] = statuses
    return failures, answered


async def test_every_operation_answers_as_described(server):
    spec = await _description(server)
    # Schemathesis sends blocking requests: from a thread, so this loop serves them.
    failures, answered = await asyncio.wait_for(asyncio.to_thread(_exercise, spec, server.url), 240)
    assert failures == [], "\n\n".join(failures)
    # Every operation answered a valid case with success, so its success schema was checked.
    described = [f"{m.upper()} {p}" for p, ops in spec["paths"].items() for m in ops]
    assert sorted(answered) == sorted(described)
    assert [op for op, statuses in answered.items() if not any(s < 300 for s in statuses)] == []
