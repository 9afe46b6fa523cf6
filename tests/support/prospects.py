"""Helpers of the prospects and enrollment tests: a configuration with ingest keys whose
MX lookups go to a loopback DNS server, and prospects to post."""

from __future__ import annotations

import hashlib
from typing import Any

import conf

KEY, OLD_KEY = "scraper-key-0123456789", "old-key-9876543210"
# Domains the loopback DNS server answers with an MX; others are NXDOMAIN.
MX_DOMAINS = ("ann-cuisine.fr", "media.example", "blog.example", "mailinator.com")


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def settings(dns_port: int, enrollment: str = "{}", extra: str = "") -> conf.Settings:
    return conf.parse(
        f"""
warmup: {{resolver: "127.0.0.1:{dns_port}"}}
enrollment: {{mx_timeout: 0.5, mx_budget: 2}}
tenants:
  - name: acme
    pool: acme
    trusted_networks: [127.0.0.1/32]
    sender_domains: [a.example]
    ingest_keys: [{{name: scraper, key_sha256: "{sha(KEY)}"}},
                  {{name: old, key_sha256: "{sha(OLD_KEY)}"}}]
    enrollment: {enrollment}
  - {{name: beta, pool: beta, trusted_networks: [127.0.0.2/32], sender_domains: [b.example]}}
pools:
  acme: [{{ip: 192.0.2.10, vmta: acme-1, hostname: h1}}]
  beta: [{{ip: 192.0.2.20, vmta: beta-1, hostname: h2}}]
{extra}""",
        environ={},
    )


def mx_records() -> dict[str, list[tuple[int, str]]]:
    return {d: [(10, f"mx.{d}")] for d in MX_DOMAINS} | {"nullmx.example": [(0, ".")]}


def prospect(email: str, **kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"email": email, "language": "fr", "category": "blogger",
                            "score": 80, "tier": 1}  # fmt: skip
    return {**base, **kw}
