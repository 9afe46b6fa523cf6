"""Prospect ingestion and enrollment decisions: prospects/s and decisions/s, per store.

Ingestion: 10,000 prospects posted to ``POST /api/prospects/acme`` over loopback
HTTP in batches of 500 (one after the other, as a scraper would), each batch's
MX lookups (one per distinct domain, 1,000 domains in all) answered by a loopback
DNS server (tests/support/dns_server.py, in a process of its own); then the same
10,000 again (every item unchanged). Enrollment: the enrollment task's rounds
(``Enrollment.tenant_round``, ``enrollment.batch`` = 500) until every prospect
is decided, against three active auto-enrollment scenarios, once in dry run
(decisions recorded, nothing enrolled) and once for real (``lifecycle.enroll``
plans each first send). No first lines: those are the Personalizer's own cost.
A fresh SQLite file and a throwaway schema of the PostgreSQL at
``SLUICE_TEST_PG`` per run.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from contacts_import import drop_schema, fresh_pg_url

import conf
from policy.store import open_store
from scheduler.enrollment import Enrollment
from scheduler.scenarios import lifecycle, store_catalog
from tests.support.admin_api import serve_admin
from tests.support.dns_server import DnsServer

KEY = "bench-ingest-key-0123456789"
BATCH = 500
DOMAINS = 1000
LANGUAGES = ("fr", "en", "de")
CATEGORIES = ("blogger", "media", "shop")


def settings(dns_port: int) -> conf.Settings:
    digest = hashlib.sha256(KEY.encode()).hexdigest()
    return conf.parse(
        f"""
warmup: {{resolver: "127.0.0.1:{dns_port}"}}
enrollment: {{mx_timeout: 2, mx_budget: 10, batch: {BATCH}}}
tenants:
  - name: acme
    pool: acme
    trusted_networks: [127.0.0.1/32]
    sender_domains: [a.example]
    ingest_keys: [{{name: bench, key_sha256: "{digest}"}}]
    enrollment: {{enabled: true, dry_run: true, max_per_hour: 1000000, max_per_day: 1000000,
                  min_score: 20, max_tier: 4}}
pools:
  acme: [{{ip: 192.0.2.10, vmta: acme-1, hostname: h1}}]
""",
        environ={},
    )


def prospect(i: int) -> dict[str, Any]:
    return {
        "email": f"person{i:06d}@domain{i % DOMAINS}.example",
        "name": f"First{i} Last{i}",
        "domain": f"site{i}.example",
        "language": LANGUAGES[i % 3],
        "category": CATEGORIES[i % 3],
        "country": "FR",
        "tier": i % 5,
        "score": i % 100,
        "custom": {"blog": f"Blog {i}"},
        "source": "bench",
    }


async def scenarios(store: Any) -> None:
    for lang in LANGUAGES:
        body = {
            "name": f"intro-{lang}", "from": "a@a.example", "filters": {"languages": [lang]},
            "auto_enroll": {"tiers": [0, 1, 2, 3, 4]},
            "steps": [{"id": "s", "trigger": "entry", "template": "t"}],
        }  # fmt: skip
        await store.save_scenario("acme", body["name"], json.dumps(body), None, None, 0.0)
        await lifecycle.act(store, "acme", body["name"], "start", 0.0)


async def ingest(server: Any, count: int) -> tuple[float, dict[str, int]]:
    totals: dict[str, int] = {}
    start = time.perf_counter()
    async with server.session(None) as client:
        for first in range(0, count, BATCH):
            items = [prospect(i) for i in range(first, min(count, first + BATCH))]
            r = await client.post("/api/prospects/acme", json={"prospects": items},
                                  headers={"X-Api-Key": KEY})  # fmt: skip
            assert r.status == 200, await r.text()
            got = await r.json()
            for k in ("created", "updated", "unchanged", "invalid", "duplicate"):
                totals[k] = totals.get(k, 0) + got[k]
    return time.perf_counter() - start, totals


async def decide(store: Any, s: conf.Settings, dry: bool) -> tuple[float, dict[str, int]]:
    await store.save_enrollment_settings("acme", json.dumps({"dry_run": dry}), "bench", 0.0)
    task = Enrollment(store, lambda: s, store_catalog.build(store), None)
    tenant = s.tenants[0]
    totals: dict[str, int] = {}
    start = time.perf_counter()
    while True:
        report = await task.tenant_round(s, tenant, time.time())
        if not report.counts:
            break
        for k, v in report.counts.items():
            totals[k] = totals.get(k, 0) + v
    return time.perf_counter() - start, totals


async def serve_dns() -> None:
    """The loopback DNS server, in a process of its own (``--serve-dns``): prints its port."""
    mx = {f"domain{d}.example": [(10, f"mx.domain{d}.example")] for d in range(DOMAINS)}
    async with DnsServer(mx) as dns:
        print(dns.port, flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until closed


async def one_run(url: str, count: int) -> dict[str, Any]:
    child = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--serve-dns",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert child.stdout is not None and child.stdin is not None
    port = int((await child.stdout.readline()).decode())
    try:
        s = settings(port)
        store = open_store(url)
        await store.open()
        try:
            await scenarios(store)
            async with serve_admin(s, store) as server:
                first, created = await ingest(server, count)
                again, unchanged = await ingest(server, count)
            dry, dry_counts = await decide(store, s, True)
            real, real_counts = await decide(store, s, False)
        finally:
            await store.close()
    finally:
        child.stdin.close()
        await child.wait()
    assert created["created"] == count and unchanged["unchanged"] == count, (created, unchanged)
    return {
        "ingest_per_s": count / first, "again_per_s": count / again,
        "dry_per_s": count / dry, "real_per_s": count / real,
        "dry": dry_counts, "real": real_counts,
    }  # fmt: skip


async def run(args: argparse.Namespace) -> None:
    dsn = os.environ.get("SLUICE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
    print(f"{args.prospects:,} prospects in batches of {BATCH}, {DOMAINS:,} mail domains\n")
    print("| backend | ingest prospects/s | re-post (unchanged)/s | decisions/s, dry run |"
          " decisions/s, enrolling |")  # fmt: skip
    print("|---|---:|---:|---:|---:|")
    for backend in args.backends.split(","):
        if backend == "sqlite":
            with tempfile.TemporaryDirectory() as folder:
                r = await one_run(f"sqlite:///{folder}/bench.db", args.prospects)
        else:
            made = await fresh_pg_url(dsn)
            if made is None:
                continue
            try:
                r = await one_run(made[0], args.prospects)
            finally:
                await drop_schema(dsn, made[1])
        print(f"| {backend} | {r['ingest_per_s']:,.0f} | {r['again_per_s']:,.0f} |"
              f" {r['dry_per_s']:,.0f} | {r['real_per_s']:,.0f} |")  # fmt: skip
        print(f"<!-- {backend}: dry {r['dry']} real {r['real']} -->")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prospects", type=int, default=10_000)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--serve-dns", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    asyncio.run(serve_dns() if args.serve_dns else run(args))


if __name__ == "__main__":
    main()
