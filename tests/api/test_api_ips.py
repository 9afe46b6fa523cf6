"""Tenants, pools, IPs, quotas, switches, reload and audit over real HTTP.

Every answer is also checked against the schema its route declares in
/api/openapi.json, so the description cannot drift from what is served.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from jsonschema_rs import Draft202012Validator as Validator

import conf
from policy.counters import Reservation
from policy.counters.redis import RedisCounters
from policy.events import Event
from policy.quota.measures import THROTTLE, Measure
from policy.quota.selection import Planner
from tests.support.admin_api import AdminServer, serve_admin

NOW = datetime(2026, 11, 21, 17, 30, tzinfo=UTC)  # 12:30 in New York (UTC-5)
WARM, WARMING, DISABLED, OTHER = "192.0.2.10", "192.0.2.12", "192.0.2.13", "198.51.100.5"
SECRETS = (
    "scrypt$16384$8$1$c2FsdHNhbHQ$aGFzaGhhc2g",
    "tracking-secret-0123456789",
    "webhook-secret-0123456789",
)


def settings() -> conf.Settings:
    hash_, tracking, webhook = SECRETS
    return conf.parse(
        f"""
warmup:
  schedules:
    short: {{default: [100, 200, 400], google: [20, 40, 80]}}
tenants:
  - name: acme
    pool: acme
    timezone: America/New_York
    credentials: [{{username: acme, password_hash: "{hash_}"}}]
    sender_domains: [a.example]
    bounce_domain: bounce.a.example
    tracking: {{base_url: "https://t.a.example", secrets: ["{tracking}"]}}
    unsubscribe: {{}}
    webhooks: [{{url: "https://hooks.a.example/x", secret: "{webhook}"}}]
    mailwizz_dswh: "https://mw.a.example/index.php/dswh/pmta"
  - {{name: other, pool: other, trusted_networks: [127.0.0.2/32], sender_domains: [o.example]}}
pools:
  acme:
    - {{ip: {WARM}, vmta: acme-1, hostname: h1.a.example, daily_limit: 500}}
    - {{ip: {WARMING}, vmta: acme-3, hostname: h3.a.example,
       warmup: {{schedule: short, started: "2026-11-20"}}}}
    - {{ip: {DISABLED}, vmta: acme-4, hostname: h4.a.example, enabled: false}}
  other:
    - {{ip: {OTHER}, vmta: other-1, hostname: o1.o.example}}
""",
        environ={},
    )


def serve(store, **kwargs):
    return serve_admin(settings(), store, clock=lambda: NOW, **kwargs)


# -- answers against the declared schemas ----------------------------------------


def conforms(value: Any, schema: dict, spec: dict) -> None:
    """Assert `value` fits a JSON Schema of the description (its $refs into the components)."""
    root = {"allOf": [schema], "components": spec["components"]}
    problems = [f"{e.instance_path}: {e.message}" for e in Validator(root).iter_errors(value)]
    assert problems == [], problems


async def call(
    server: AdminServer, role: str, method: str, path: str, template: str, **kwargs
) -> tuple[int, Any]:
    """One request; its answer checked against the route's schema for that status."""
    async with server.session(role) as client:
        response = await client.request(method, path, **kwargs)
        body = await response.json()
        spec = await (await client.get("/api/openapi.json")).json()
    operation = spec["paths"][template][method.lower()]
    declared = operation["responses"][str(response.status)]
    conforms(body, declared["content"]["application/json"]["schema"], spec)
    return response.status, body


def error(body: dict) -> tuple[str, str | None]:
    return body["error"]["code"], body["error"].get("field")


async def reserve(counters: RedisCounters, ip: str, n: int, group: str = "default") -> None:
    """Take and keep n units on the IP's limits, exactly as the gateway's quota step does."""
    s = settings()
    candidates = Planner(s.warmup).candidates(s.pools["acme"], NOW, group, zone="America/New_York")
    [candidate] = [c for c in candidates if c.ip.ip == ip]
    for _ in range(n):
        taken = await counters.reserve(candidate.limits)
        assert isinstance(taken, Reservation)
        await counters.commit(taken)


# -- tenants -------------------------------------------------------------------------


async def test_tenants_are_shown_without_secrets(store):
    async with serve(store) as server:
        status, body = await call(server, "viewer", "GET", "/api/tenants", "/api/tenants")
        assert status == 200
        acme, other = body["tenants"]
        assert acme == {
            "name": "acme",
            "pool": "acme",
            "sender_domains": ["a.example"],
            "timezone": "America/New_York",
            "sending_hours": 16.0,
            "bounce_domain": "bounce.a.example",
            "tracking": True,
            "unsubscribe": True,
            "feedback_id": False,
            "mailwizz": True,
        }
        assert (other["timezone"], other["tracking"], other["mailwizz"]) == ("UTC", False, False)
        status, one = await call(
            server, "viewer", "GET", "/api/tenants/acme", "/api/tenants/{tenant}"
        )
        assert (status, one) == (200, acme)
        async with server.session("admin") as client:
            text = await (await client.get("/api/tenants")).text()
        assert not [secret for secret in SECRETS if secret in text]
        status, body = await call(
            server, "viewer", "GET", "/api/tenants/nobody", "/api/tenants/{tenant}"
        )
        assert (status, error(body)) == (404, ("unknown_tenant", None))
        assert "known: acme, other" in body["error"]["message"]


# -- pools and IPs ---------------------------------------------------------------------


async def test_pools_show_state_day_use_and_rates_from_live_counters(
    store, redis_client, redis_prefix
):
    counters = RedisCounters(redis_client, prefix=redis_prefix)
    await reserve(counters, WARMING, 10)
    await reserve(counters, WARMING, 3, group="google")
    at = NOW.timestamp() - 60
    await store.record(
        [
            Event("relayed", "acme", "c", "m", ("a@x", "b@x", "c@x", "d@x"), ip=WARMING, at=at),
            Event("bounced", "acme", "c", "m", ("a@x",), ip=WARMING, provider="google", at=at),
        ]
    )
    async with serve(store, counters=counters) as server:
        status, body = await call(server, "viewer", "GET", "/api/pools", "/api/pools")
        assert status == 200 and body["usage_source"] == "counters"
        acme, other = body["pools"]
        assert (acme["name"], acme["tenants"], acme["timezone"]) == (
            "acme",
            ["acme"],
            "America/New_York",
        )
        assert [ip["ip"] for ip in other["ips"]] == [OTHER]
        warm, warming, disabled = acme["ips"]
        assert (warm["state"], warm["warmup"], warm["hourly"]) == ("warm", None, None)
        assert warm["daily"] == {"limit": 500, "used": 0, "remaining": 500}
        assert (warming["vmta"], warming["hostname"], warming["state"]) == (
            "acme-3",
            "h3.a.example",
            "warming",
        )
        assert warming["warmup"] == {"schedule": "short", "day": 2, "days": 3}
        assert warming["daily"] == {"limit": 200, "used": 13, "remaining": 187}
        # 200 a day over 16 sending hours with a 1.25 burst: 16 an hour.
        assert warming["hourly"] == {"limit": 16, "used": 13, "remaining": 3}
        assert warming["groups"] == {"google": {"limit": 40, "used": 3, "remaining": 37}}
        hour = warming["rates"]["1h"]
        assert (hour["relayed"], hour["bounced"], hour["bounce_rate"]) == (4, 1, 0.25)
        assert warming["rates"]["providers"]["google"]["24h"]["bounced"] == 1
        assert warm["rates"]["24h"]["bounce_rate"] is None  # nothing relayed: no rate
        assert (disabled["in_rotation"], disabled["out_of_rotation"]) == (
            False,
            "disabled in the configuration (enabled: false)",
        )

        throttle = Measure(WARMING, "google", THROTTLE, 20, "deferral rate 40%", at, at + 3600)
        await store.save_measure(throttle)
        status, one = await call(server, "viewer", "GET", f"/api/ips/{WARMING}", "/api/ips/{ip}")
        assert status == 200
        assert one["rates"]["measures"] == [
            {
                "kind": "throttle",
                "provider": "google",
                "hourly": 20,
                "reason": "deferral rate 40%",
                "since": at,
                "until": at + 3600,
            }
        ]
        assert (one["daily"], one["tenants"], one["pool"]) == (warming["daily"], ["acme"], "acme")
        status, body = await call(server, "viewer", "GET", "/api/ips/203.0.113.9", "/api/ips/{ip}")
        assert (status, error(body)) == (404, ("unknown_ip", None))


async def test_ip_use_falls_back_to_recorded_events(store):
    events = [
        Event("relayed", "acme", "c", "m", ("a@x", "b@x"), ip=WARMING, at=NOW.timestamp() - 5),
        Event("relayed", "acme", "c", "m", ("c@x",), ip=WARMING, at=NOW.timestamp() - 4000),
        # Yesterday in New York (04:00 UTC on the 21st): not today's.
        Event("relayed", "acme", "c", "m", ("d@x",), ip=WARMING, at=NOW.timestamp() - 13.5 * 3600),
    ]
    await store.record(events)
    async with serve(store) as server:
        status, one = await call(server, "viewer", "GET", f"/api/ips/{WARMING}", "/api/ips/{ip}")
        assert (status, one["usage_source"]) == (200, "events")
        assert one["daily"]["used"] == 3 and one["hourly"]["used"] == 2
        status, c = await call(
            server,
            "viewer",
            "POST",
            "/api/quotas/acme/check",
            "/api/quotas/{tenant}/check",
            json={"emails_to_send": 1000},
        )
    # 14 left this hour and 16 in each of the 11 after it: 190, under the 197 of the day.
    assert [(a["ip"], a["emails"]) for a in c["allocation"]] == [(WARMING, 190), (WARM, 500)]
    assert (c["capacity"], c["shortfall"], c["usage_source"]) == (690, 310, "events")


async def test_ip_actions_roles_conflicts_history_and_audit(store):
    async with serve(store) as server:
        path, template = f"/api/ips/{WARM}/actions", "/api/ips/{ip}/actions"
        body = {"action": "pause", "reason": "listed on SORBS"}
        status, answer = await call(server, "viewer", "POST", path, template, json=body)
        assert (status, error(answer)) == (403, ("forbidden", None))

        status, answer = await call(server, "operator", "POST", path, template, json=body)
        assert status == 200
        change = answer["transition"]
        assert (change["from_state"], change["to_state"], change["actor"]) == (
            "warm",
            "paused",
            "operator",
        )
        assert change["reason"] == "paused by operator (listed on SORBS)"
        assert (answer["ip"]["state"], answer["ip"]["out_of_rotation"]) == ("paused", "paused")

        status, answer = await call(server, "operator", "POST", path, template, json=body)
        assert (status, error(answer)) == (409, ("invalid_transition", None))
        assert "cannot pause an IP that is paused" in answer["error"]["message"]
        set_day = {"action": "set-day", "day": 2}
        status, answer = await call(server, "operator", "POST", path, template, json=set_day)
        assert status == 409 and f"{WARM} is paused" in answer["error"]["message"]

        for bad, field, code in [
            ({"action": "set-day"}, "day", "missing_field"),
            ({"action": "pause", "day": 3}, "day", "invalid_field"),
            ({"action": "set-day", "day": 0}, "day", "invalid_field"),
            ({"action": "explode"}, "action", "invalid_field"),
            ({}, "action", "missing_field"),
            ({"action": "pause", "why": "x"}, "why", "unknown_field"),
            ({"action": "pause", "reason": "x" * 501}, "reason", "invalid_field"),
        ]:
            status, answer = await call(server, "operator", "POST", path, template, json=bad)
            assert (status, error(answer)) == (422, (code, field)), bad
        status, answer = await call(
            server, "operator", "POST", "/api/ips/203.0.113.9/actions", template, json=body
        )
        assert (status, error(answer)) == (404, ("unknown_ip", None))

        status, answer = await call(
            server,
            "operator",
            "POST",
            f"/api/ips/{WARMING}/actions",
            template,
            json={"action": "set-day", "day": 3},
        )
        assert status == 200
        assert answer["ip"]["warmup"] == {"schedule": "short", "day": 3, "days": 3}
        assert answer["ip"]["daily"]["limit"] == 400

        status, history = await call(
            server, "viewer", "GET", f"/api/ips/{WARMING}/history", "/api/ips/{ip}/history"
        )
        assert status == 200
        assert [(h["from_day"], h["to_day"], h["actor"]) for h in history["items"]] == [
            (2, 3, "operator")
        ]
    entries = [e.as_dict() for e in await store.audit_entries()]
    assert [(e["actor"], e["action"], e["target"]) for e in entries] == [
        ("operator", "ip.set-day", WARMING),
        ("operator", "ip.pause", WARM),
    ]
    assert (entries[1]["before"], entries[1]["after"]) == (
        {"state": "warm", "day": 0},
        {"state": "paused", "day": 0, "reason": "paused by operator (listed on SORBS)"},
    )
    assert (entries[0]["before"]["day"], entries[0]["after"]["day"]) == (2, 3)


# -- quotas ------------------------------------------------------------------------


async def test_capacity_and_check_arithmetic_on_live_counters(store, redis_client, redis_prefix):
    counters = RedisCounters(redis_client, prefix=redis_prefix)
    await reserve(counters, WARMING, 10)
    await reserve(counters, WARM, 100)
    async with serve(store, counters=counters) as server:
        status, q = await call(server, "viewer", "GET", "/api/quotas/acme", "/api/quotas/{tenant}")
        assert status == 200
        # The warming IP's 200 and the warm IP's own 500; the disabled IP is out.
        assert (q["capacity"], q["used"], q["remaining"]) == (700, 110, 590)
        assert (q["date"], q["day_ends_at"]) == ("2026-11-21", "2026-11-22T00:00:00-05:00")
        assert q["in_rotation"] == [WARM, WARMING]
        assert q["out_of_rotation"] == [
            {"ip": DISABLED, "reason": "disabled in the configuration (enabled: false)"}
        ]
        assert [ip["daily"]["remaining"] for ip in q["ips"]] == [400, 190, None]

        path, template = "/api/quotas/acme/check", "/api/quotas/{tenant}/check"
        status, c = await call(
            server, "viewer", "POST", path, template, json={"emails_to_send": 600}
        )
        assert status == 200
        # At 12:30 the warming IP has 6 left this hour and 16 in each of the 11 hours
        # after it: 182 before midnight, under the 190 its day leaves.
        assert [(a["ip"], a["emails"], a["this_hour"]) for a in c["allocation"]] == [
            (WARMING, 182, 6),
            (WARM, 400, 400),
        ]
        assert (c["fits"], c["capacity"], c["placed"], c["shortfall"]) == (False, 582, 582, 18)
        assert c["capacity_frees_at"] == "2026-11-22T00:00:00-05:00"
        assert c["pacing"] == {
            "binds": True,
            "this_hour": 406,
            "next_hour_at": "2026-11-21T13:00:00-05:00",
            "done_by": "2026-11-22T00:00:00-05:00",
        }
        assert c["out_of_rotation"] == q["out_of_rotation"]

        status, c = await call(
            server, "viewer", "POST", path, template, json={"emails_to_send": 100}
        )
        # Warming IPs first: all 100 on it, paced over 13:00 + ceil(94 / 16) hours.
        assert [(a["ip"], a["emails"]) for a in c["allocation"]] == [(WARMING, 100), (WARM, 0)]
        assert (c["fits"], c["shortfall"], c["pacing"]["done_by"]) == (
            True,
            0,
            "2026-11-21T19:00:00-05:00",
        )
        google = {"emails_to_send": 100, "provider_group": "google"}
        status, c = await call(server, "viewer", "POST", path, template, json=google)
        # Day 2 allows 40 to Google on the warming IP; the rest goes warm.
        assert [(a["ip"], a["emails"]) for a in c["allocation"]] == [(WARMING, 40), (WARM, 60)]

        for bad, field in [
            ({"emails_to_send": 0}, "emails_to_send"),
            ({"emails_to_send": "5"}, "emails_to_send"),
            ({"emails_to_send": 2.5}, "emails_to_send"),
            ({}, "emails_to_send"),
            ({"emails_to_send": 5, "provider_group": "aol"}, "provider_group"),
        ]:
            status, answer = await call(server, "viewer", "POST", path, template, json=bad)
            assert (status, error(answer)[1]) == (422, field), bad
        status, answer = await call(
            server,
            "viewer",
            "POST",
            "/api/quotas/nobody/check",
            template,
            json={"emails_to_send": 1},
        )
        assert (status, error(answer)) == (404, ("unknown_tenant", None))


async def test_one_ip_of_a_tenants_pool(store):
    template = "/api/quotas/{tenant}/ips/{ip}"
    async with serve(store) as server:
        status, one = await call(
            server, "viewer", "GET", f"/api/quotas/acme/ips/{WARMING}", template
        )
        assert (status, one["tenant"], one["daily"]["limit"], one["hourly"]["limit"]) == (
            200,
            "acme",
            200,
            16,
        )
        for ip in (OTHER, "203.0.113.9"):  # another tenant's IP, and no IP at all
            status, body = await call(
                server, "viewer", "GET", f"/api/quotas/acme/ips/{ip}", template
            )
            assert (status, error(body)) == (404, ("unknown_ip", None))


# -- switches, reload, audit ---------------------------------------------------------


async def test_switches_through_the_api(store):
    async with serve(store) as server:
        on = "/api/switches/{kind}/on"
        status, body = await call(server, "viewer", "POST", "/api/switches/pause/on", on, json={})
        assert status == 403
        status, body = await call(
            server,
            "operator",
            "POST",
            "/api/switches/pause/on",
            on,
            json={"tenant": "acme", "reason": "bad list"},
        )
        assert status == 200 and body["previous"] is None
        assert body["switch"]["description"] == "tenant acme pause switch (by operator: bad list)"
        status, body = await call(server, "operator", "POST", "/api/switches/dry-run/on", on)
        assert (status, body["tenant"], body["switch"]["kind"]) == (200, None, "dry-run")
        assert sorted((s.kind, s.target, s.actor) for s in await store.switches()) == [
            ("dry_run", "", "operator"),
            ("pause", "acme", "operator"),
        ]
        status, listed = await call(server, "viewer", "GET", "/api/switches", "/api/switches")
        assert sorted((s["kind"], s["tenant"]) for s in listed["switches"]) == [
            ("dry-run", None),
            ("pause", "acme"),
        ]
        status, body = await call(
            server,
            "operator",
            "POST",
            "/api/switches/pause/off",
            "/api/switches/{kind}/off",
            json={"tenant": "acme"},
        )
        assert (status, body["switch"], body["previous"]["reason"]) == (200, None, "bad list")
        assert [(s.kind, s.target) for s in await store.switches()] == [("dry_run", "")]

        status, body = await call(server, "operator", "POST", "/api/switches/halt/on", on)
        assert (status, error(body)) == (404, ("unknown_switch", "kind"))
        status, body = await call(
            server, "operator", "POST", "/api/switches/pause/on", on, json={"tenant": "nobody"}
        )
        assert (status, error(body)) == (422, ("invalid_field", "tenant"))
    entries = [e.as_dict() for e in await store.audit_entries()]
    assert [(e["action"], e["target"]) for e in entries] == [
        ("switch.off", "pause:acme"),
        ("switch.on", "dry-run:*"),
        ("switch.on", "pause:acme"),
    ]
    assert entries[0]["before"]["reason"] == "bad list" and entries[0]["after"]["on"] is False
    assert entries[2]["before"] is None and entries[2]["after"]["tenant"] == "acme"


async def test_config_reload(store):
    answers: list[str | None] = [None, "tenants[0].pool: no pool named 'x' in pools"]

    async def reload() -> str | None:
        return answers.pop(0)

    path = "/api/config/reload"
    async with serve(store, reload=reload) as server:
        status, body = await call(server, "operator", "POST", path, path)
        assert status == 403 and "needs admin" in body["error"]["message"]
        assert await call(server, "admin", "POST", path, path) == (200, {"status": "reloaded"})
        status, body = await call(server, "admin", "POST", path, path)
        assert (status, error(body)) == (422, ("config_rejected", None))
        assert body["error"]["message"] == "tenants[0].pool: no pool named 'x' in pools"
    async with serve(store) as server:
        status, body = await call(server, "admin", "POST", path, path)
        assert (status, error(body)) == (503, ("reload_unavailable", None))
    entries = [e.as_dict() for e in await store.audit_entries(action="config.reload")]
    assert entries[0]["after"] == {"rejected": "tenants[0].pool: no pool named 'x' in pools"}
    assert entries[1]["before"]["pools"]["acme"] == [WARM, WARMING, DISABLED]
    assert entries[1]["after"]["tenants"] == ["acme", "other"]


async def test_audit_log_pages_and_filters(store):
    async with serve(store) as server:
        for kind in ("pause", "dry-run", "pause"):
            for state in ("on", "off"):
                async with server.session("operator") as client:
                    r = await client.post(f"/api/switches/{kind}/{state}", json={})
                    assert r.status == 200
        status, body = await call(server, "operator", "GET", "/api/audit", "/api/audit")
        assert status == 403
        seen, cursor, pages = [], "", 0
        while pages < 10:
            query = f"/api/audit?limit=4&cursor={cursor}"
            status, page = await call(server, "admin", "GET", query, "/api/audit")
            assert status == 200
            seen += [(e["action"], e["target"]) for e in page["items"]]
            pages += 1
            if page["next_cursor"] is None:
                break
            cursor = page["next_cursor"]
        assert pages == 2 and len(seen) == 6
        assert seen[0] == ("switch.off", "pause:*") and seen[-1] == ("switch.on", "pause:*")
        _, page = await call(server, "admin", "GET", "/api/audit?action=switch.on", "/api/audit")
        assert [e["target"] for e in page["items"]] == ["pause:*", "dry-run:*", "pause:*"]
        _, page = await call(server, "admin", "GET", "/api/audit?actor=viewer", "/api/audit")
        assert page == {"items": [], "next_cursor": None}
        status, body = await call(server, "admin", "GET", "/api/audit?cursor=abc", "/api/audit")
        assert (status, error(body)) == (400, ("invalid_parameter", "cursor"))
