"""`sluice dns-check [-c FILE] [--tenant T] [--json]`: the DNS authentication check now, printed.

The same check as the daemon's ``dns-check`` task (scheduler/reputation/dnsauth.py),
asking the configured resolver. It sends no alert: the operator reading it is
told; the daemon's task, which remembers what it already announced, alerts.
Exit status: 0 when nothing is wrong, 1 when a problem is found, 2 when the
configuration or the tenant is wrong.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from conf import ConfigError, load
from policy.reputation.dnsauth import DnsCheckReport
from scheduler.reputation.dnsauth import run_check


def add_commands(sub: argparse._SubParsersAction) -> dict[str, Callable[[Any], int]]:
    dc = sub.add_parser(
        "dns-check", help="check SPF, DKIM, DMARC, PTR, MX and tracking DNS of every tenant now"
    )
    dc.add_argument("--tenant", help="check only this tenant")
    dc.add_argument("--json", action="store_true", help="print the report as JSON")
    dc.add_argument("-c", "--config")
    return {"dns-check": _dns_check}


def _dns_check(args: argparse.Namespace) -> int:
    try:
        settings = load(args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    if args.tenant is not None and args.tenant not in {t.name for t in settings.tenants}:
        print(f"no tenant {args.tenant!r} in the configuration", file=sys.stderr)
        return 2
    report = asyncio.run(run_check(settings, args.tenant))
    print(json.dumps(as_json(report), indent=2) if args.json else render(report))
    return 1 if report.problems else 0


def as_json(report: DnsCheckReport) -> dict:
    return {
        "at": report.at,
        "seconds": round(report.seconds, 3),
        "queries": report.queries,
        "problems": report.problems,
        "reports": [asdict(r) for r in report.reports],
    }


def render(report: DnsCheckReport) -> str:
    """One block per domain or IP, problems first, then what was found right."""
    lines = []
    for r in report.reports:
        verdict = "ok" if r.ok else f"{len(r.problems)} problem(s)"
        lines.append(f"{r.tenant} {r.target}: {verdict}")
        lines += [f"  PROBLEM {p}" for p in r.problems]
        lines += [f"  ok      {n}" for n in r.notes]
    lines.append(
        f"{report.problems} problem(s) in {len(report.reports)} domains and IPs; "
        f"{report.queries} DNS queries in {report.seconds:.2f} s"
    )
    return "\n".join(lines)
