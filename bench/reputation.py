"""One DNS blocklist polling cycle: 200 IPs x 8 lists + 50 domains x 3 lists, loopback DNS.

The loopback DNS server (tests/support/dns_server.py) runs in its own process,
so the cycle's event loop does not also answer the queries. Each list is a
zone of its own; a tenth of the IPs and domains are listed (127.0.0.2), the
rest answer NXDOMAIN, and each list answers its RFC 5782 test points, so a
cycle asks 200 x 8 + 50 x 3 = 1,750 names plus 22 test points. The store is
SQLite in a temporary folder; the cycle is ``scheduler.reputation.cycle``.

    .venv/bin/python bench/reputation.py                     # default concurrency (20)
    .venv/bin/python bench/reputation.py --concurrency 5 20 100 --runs 3
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import logging
import multiprocessing
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import conf
from policy.store import open_store
from scheduler.reputation.cycle import run_cycle
from tests.support.dns_server import DnsServer
from tests.support.dnsbl_zones import rev

IP_LISTS = [f"ip{n}.bench" for n in range(1, 9)]
DOMAIN_LISTS = [f"dom{n}.bench" for n in range(1, 4)]


def ips(count: int) -> list[str]:
    base = int(ipaddress.IPv4Address("10.20.0.1"))
    return [str(ipaddress.IPv4Address(base + i)) for i in range(count)]


def domains(count: int) -> list[str]:
    return [f"sender{i}.example" for i in range(count)]


def records(n_ips: int, n_domains: int) -> dict[str, list[str]]:
    a: dict[str, list[str]] = {}
    for zone in IP_LISTS:
        a[f"{rev('127.0.0.2')}.{zone}"] = ["127.0.0.2"]
        for ip in ips(n_ips)[::10]:
            a[f"{rev(ip)}.{zone}"] = ["127.0.0.2"]
    for zone in DOMAIN_LISTS:
        a[f"test.{zone}"] = ["127.0.0.2"]
        for domain in domains(n_domains)[::10]:
            a[f"{domain}.{zone}"] = ["127.0.0.2"]
    return a


def serve_dns(a: dict[str, list[str]], ports: multiprocessing.Queue) -> None:
    async def main() -> None:
        async with DnsServer(a=a) as server:
            ports.put(server.port)
            await asyncio.Event().wait()

    asyncio.run(main())


def settings(port: int, n_ips: int, n_domains: int, concurrency: int, db: str) -> conf.Settings:
    pool = "\n".join(
        f"    - {{ip: {ip}, vmta: v{i}, hostname: h{i}.example}}" for i, ip in enumerate(ips(n_ips))
    )
    lists = [f"    - {{zone: {z}, action: alert}}" for z in IP_LISTS]
    lists += [f"    - {{zone: {z}, kind: domain}}" for z in DOMAIN_LISTS]
    return conf.parse(
        f"""
database: "sqlite:///{db}"
tenants:
  - {{name: acme, pool: acme, trusted_networks: [127.0.0.1/32],
     sender_domains: [{", ".join(domains(n_domains))}]}}
pools:
  acme:
{pool}
reputation:
  resolver: "127.0.0.1:{port}"
  concurrency: {concurrency}
  lists:
{chr(10).join(lists)}
""",
        environ={},
    )


async def one(s: conf.Settings) -> tuple[float, int, float]:
    store = open_store(s.database)
    await store.open()
    try:
        report = await run_cycle(s, store)
    finally:
        await store.close()
    assert not any(report.canaries.values()), report.canaries
    return report.seconds, report.queries, report.queries_per_second


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ips", type=int, default=200)
    parser.add_argument("--domains", type=int, default=50)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[20])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # the listings it confirms from the second run on
    ports: multiprocessing.Queue = multiprocessing.Queue()
    server = multiprocessing.Process(
        target=serve_dns, args=(records(args.ips, args.domains), ports), daemon=True
    )
    server.start()
    port = ports.get(timeout=10)
    try:
        print("| concurrency | queries | wall s (median) | queries/s (median) | runs (s) |")
        print("|---:|---:|---:|---:|---|")
        for concurrency in args.concurrency:
            with tempfile.TemporaryDirectory() as tmp:
                s = settings(port, args.ips, args.domains, concurrency, f"{tmp}/s.db")
                runs = [asyncio.run(one(s)) for _ in range(args.runs)]
            walls = [r[0] for r in runs]
            qps = statistics.median(r[2] for r in runs)
            shown = ", ".join(f"{w:.2f}" for w in walls)
            print(
                f"| {concurrency} | {runs[0][1]} | {statistics.median(walls):.2f}"
                f" | {qps:,.0f} | {shown} |"
            )
    finally:
        server.terminate()


if __name__ == "__main__":
    main()
