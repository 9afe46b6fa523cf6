"""Zones for the DNS authentication checks: golden SPF trees, DKIM keys, DMARC, PTR, MX.

Served by tests/support/dns_server.py on loopback. COVERED is listed by every
SPF record below that passes; OTHER is listed by none. The SPF trees at 9,
10 and 11 lookups put COVERED after every lookup, so a receiver reaches it
only within the limit.
"""

from __future__ import annotations

COVERED = "192.0.2.10"
OTHER = "192.0.2.12"
INBOUND = "198.51.100.25"  # the inbound listener's address


def _hosts(n: int) -> str:
    return " ".join(f"a:h{i}.hosts.test" for i in range(1, n + 1))


def spf_txt() -> dict[str, list[str]]:
    """Golden SPF records (one include plus N-1 a: terms = N lookups)."""
    return {
        "spf9.test": ["v=spf1 include:_spf.spf9.test ~all", "google-site-verification=x"],
        "_spf.spf9.test": [f"v=spf1 {_hosts(8)} ip4:{COVERED} -all"],
        "spf10.test": ["v=spf1 include:_spf.spf10.test ~all"],
        "_spf.spf10.test": [f"v=spf1 {_hosts(9)} ip4:{COVERED} -all"],
        "spf11.test": ["v=spf1 include:_spf.spf11.test ~all"],
        "_spf.spf11.test": [f"v=spf1 {_hosts(10)} ip4:{COVERED} -all"],
        # Covered first: our IP passes, but a receiver answers permerror for others.
        "early11.test": [f"v=spf1 ip4:{COVERED} include:_spf.spf11.test -all"],
        "void2.test": [f"v=spf1 a:nx1.test mx:nx2.test ip4:{COVERED} -all"],
        "void3.test": [f"v=spf1 a:nx1.test mx:nx2.test exists:nx3.test ip4:{COVERED} -all"],
        "redirect.test": ["v=spf1 redirect=_spf.spf9.test"],
        "mx.test": ["v=spf1 mx -all"],
        "a.test": ["v=spf1 a/24 -all"],
        "exists.test": ["v=spf1 exists:%{i}._ip.exists.test -all"],
        "ip6.test": ["v=spf1 ip6:2001:db8::/32 ?all"],
        "two.test": ["v=spf1 -all", "v=spf1 ~all"],
        "noall.test": ["v=spf1 ip4:203.0.113.1"],
        "badinclude.test": ["v=spf1 include:nothing.test -all"],
    }


def spf_a() -> dict[str, list[str]]:
    hosts = {f"h{i}.hosts.test": ["203.0.113.99"] for i in range(1, 11)}
    return {
        **hosts,
        "mail.mx.test": [COVERED],
        "a.test": ["192.0.2.1"],
        f"{COVERED}._ip.exists.test": ["127.0.0.2"],
    }


SPF_MX = {"mx.test": [(10, "mail.mx.test")]}
