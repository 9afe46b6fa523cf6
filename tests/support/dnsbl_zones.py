"""Test blocklists for the loopback DNS server, answering every return code the watch reads.

``zen.test`` answers as Spamhaus ZEN does, ``dbl.test`` as DBL, ``uribl.test``
as URIBL, ``ok.test`` as a plain 127.0.0.2 list; ``world.test`` lists every
name (an expired list's wildcard) and ``slow.test`` never answers.
"""

from __future__ import annotations

import ipaddress

LISTED_IP = "192.0.2.10"  # SBL on zen.test, listed on ok.test
PBL_IP = "192.0.2.11"  # PBL only: policy, not abuse
CLEAN_IP = "192.0.2.20"
# Each answered with one of Spamhaus's error codes, or an undocumented answer.
ERROR_IPS = {
    "192.0.2.12": "127.255.255.254",  # asked through a public resolver
    "192.0.2.13": "127.255.255.252",  # typo or wrong zone
    "192.0.2.14": "127.255.255.255",  # excessive queries
    "192.0.2.15": "127.255.255.250",  # DQS key disabled
    "192.0.2.16": "127.255.255.251",  # DQS key refused
    "192.0.2.17": "10.0.0.1",  # a resolver's rewrite: outside 127/8
}
LISTED_DOMAIN = "spammy.example"
REFUSED_DOMAIN = "refused.example"  # URIBL's "query refused"
IP_ERROR_DOMAIN = "iperror.example"  # DBL's "an IP asked of a domain list"

SPAMHAUS_ERRORS = [
    "127.255.255.250",
    "127.255.255.251",
    "127.255.255.252",
    "127.255.255.254",
    "127.255.255.255",
]


def rev(ip: str) -> str:
    return ipaddress.ip_address(ip).reverse_pointer.rsplit(".", 2)[0]


def a_records() -> dict[str, list[str]]:
    a = {
        f"{rev('127.0.0.2')}.zen.test": ["127.0.0.2", "127.0.0.4", "127.0.0.10"],
        f"{rev(LISTED_IP)}.zen.test": ["127.0.0.2"],
        f"{rev(PBL_IP)}.zen.test": ["127.0.0.10"],
        f"{rev('127.0.0.2')}.ok.test": ["127.0.0.2"],
        f"{rev(LISTED_IP)}.ok.test": ["127.0.0.2"],
        "dbltest.com.dbl.test": ["127.0.1.2"],
        f"{LISTED_DOMAIN}.dbl.test": ["127.0.1.2"],
        f"{IP_ERROR_DOMAIN}.dbl.test": ["127.0.1.255"],
        "test.uribl.test.uribl.test": ["127.0.0.14"],
        f"{LISTED_DOMAIN}.uribl.test": ["127.0.0.2"],
        f"{REFUSED_DOMAIN}.uribl.test": ["127.0.0.1"],
    }
    for ip, code in ERROR_IPS.items():
        a[f"{rev(ip)}.zen.test"] = [code]
    return a


def world() -> dict[str, list[str]]:
    return {"world.test": ["127.0.0.2"]}


def lists_yaml(*zones: str) -> str:
    """The ``reputation.lists`` entries for the named test zones, as YAML flow mappings."""
    errors = ", ".join(f'"{c}"' for c in SPAMHAUS_ERRORS)
    known = {
        "zen.test": "{zone: zen.test, action: quarantine, listed: [127.0.0.2-127.0.0.9],"
        f" policy: [127.0.0.10, 127.0.0.11], errors: [{errors}]}}",
        "ok.test": "{zone: ok.test, action: alert}",
        "dbl.test": "{zone: dbl.test, kind: domain, listed: [127.0.1.2-127.0.1.99],"
        f" errors: [127.0.1.255, {errors}],"
        " test_points: {listed: dbltest.com, clean: invalid}}",
        "uribl.test": "{zone: uribl.test, kind: domain, listed: [127.0.0.2-127.0.0.14],"
        " errors: [127.0.0.1], test_points: {listed: test.uribl.test, clean: invalid}}",
        "world.test": "{zone: world.test, action: quarantine}",
        "slow.test": "{zone: slow.test, action: quarantine}",
    }
    return "\n".join(f"    - {known[z]}" for z in zones)
