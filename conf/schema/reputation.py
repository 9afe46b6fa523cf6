"""The ``reputation:`` section: which DNS blocklists Sluice asks about its own IPs and domains.

Lists are data: each names its zone, what it checks (``ip`` or ``domain``),
what a confirmed listing does (``quarantine`` the IP through its state
machine, or only ``alert``), and how to read its answers. An answer is a
listing only when it falls in ``listed``; ``policy`` answers (Spamhaus PBL:
an ISP's "this range should not send direct", not abuse) and ``errors``
(a refused or misdirected query) are recorded as such and never act, nor
does any answer the list does not document.

The shipped defaults (``DEFAULT_LISTS``), as their operators document them in 2026:

- Spamhaus ZEN through DQS (``<key>.zen.dq.spamhaus.net``), quarantine: 127.0.0.2-.9
  (SBL, CSS, XBL, DROP) listed; 127.0.0.10/.11 (PBL) policy; 127.255.255.252 (wrong
  zone), .254 (public resolver), .255 (excessive queries), .250/.251 (DQS key
  refused) errors. Spamhaus refuses public resolvers and its free use is
  non-commercial only, so both Spamhaus lists are off without ``SPAMHAUS_DQS_KEY``.
- Spamhaus DBL through DQS, domains, alert: 127.0.1.2-.99 and .102-.106 listed;
  127.0.1.255 (an IP asked of a domain list) and the 127.255.255.x above errors.
  Test point ``dbltest.com``.
- Barracuda ``b.barracudacentral.org``, quarantine: 127.0.0.2. Answers only a
  resolver whose IP is registered with Barracuda.
- SpamCop ``bl.spamcop.net``, quarantine: 127.0.0.2. (Its domain lapsed in 2021
  and it listed the world: the canary is what catches that.)
- Mailspike ``bl.mailspike.net``, quarantine: 127.0.0.2 (distributed spam wave)
  and 127.0.0.10-.12 (reputation levels L5-L3). Not ``rep.``, which answers for
  good IPs too.
- PSBL ``psbl.surriel.com``, quarantine: 127.0.0.2.
- UCEPROTECT level 1 ``dnsbl-1.uceprotect.net``, alert only (listings expire by
  themselves after 7 days; levels 2 and 3 list whole ranges and ASNs: never).
- SURBL ``multi.surbl.org``, domains, alert: 127.0.0.2-.254 (a bitmask) listed;
  127.0.0.1 (query refused) error. Test point ``test.surbl.org``.
- URIBL ``multi.uribl.com``, domains, alert: 127.0.0.2-.14 (black 2, grey 4,
  red 8) listed; 127.0.0.1 "query refused" error. Test point ``test.uribl.com``.

No SORBS (closed 2024), NiX Spam (stopped 2025) or CBL (inside Spamhaus XBL).

Codes are written ``127.0.0.2``, ``127.0.0.2-127.0.0.9`` or ``127.255.255.0/24``.
Each cycle asks every list its RFC 5782 test points (``test_points``; for an
IP list 127.0.0.2 must be listed and 127.0.0.1 must not, for a domain list
``test`` and ``invalid``): a list that fails is skipped that cycle.
"""

from __future__ import annotations

import ipaddress
import os
from typing import Literal

from pydantic import Field

from conf.schema.base import Section

SPAMHAUS_ERRORS = (
    "127.255.255.250",
    "127.255.255.251",
    "127.255.255.252",
    "127.255.255.254",
    "127.255.255.255",
)


def code_range(spec: str) -> tuple[int, int]:
    """The first and last IPv4 address (as integers) a code spec covers; ValueError if bad."""
    if "/" in spec:
        net = ipaddress.IPv4Network(spec, strict=False)
        return int(net.network_address), int(net.broadcast_address)
    first, _, last = spec.partition("-")
    lo = int(ipaddress.IPv4Address(first.strip()))
    hi = int(ipaddress.IPv4Address(last.strip())) if last else lo
    if hi < lo:
        raise ValueError(f"{spec}: the range ends before it starts")
    return lo, hi


class TestPoints(Section):
    # RFC 5782 section 5: the list must list this one ...
    listed: str
    # ... and must not list this one (a list that does "lists the world").
    clean: str


class DnsList(Section):
    # ``${NAME}`` works here; a zone that starts with "." (an empty key) is off.
    zone: str
    kind: Literal["ip", "domain"] = "ip"
    action: Literal["quarantine", "alert"] = "alert"
    listed: tuple[str, ...] = ("127.0.0.2",)
    policy: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()
    # Absent: 127.0.0.2 / 127.0.0.1 for an IP list, test / invalid for a domain list.
    test_points: TestPoints | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.zone) and not self.zone.startswith(".") and "${" not in self.zone

    @property
    def points(self) -> TestPoints:
        if self.test_points is not None:
            return self.test_points
        if self.kind == "ip":
            return TestPoints(listed="127.0.0.2", clean="127.0.0.1")
        return TestPoints(listed="test", clean="invalid")

    def problems(self) -> list[tuple[str, str]]:
        out = []
        for key in ("listed", "policy", "errors"):
            for i, spec in enumerate(getattr(self, key)):
                try:
                    code_range(spec)
                except ValueError as exc:
                    out.append((f"{key}[{i}]", f"not a code, range or network: {exc}"))
        if self.action == "quarantine" and self.kind == "domain":
            out.append(("action", "a domain cannot be quarantined: use alert"))
        return out


def default_lists() -> tuple[DnsList, ...]:
    """The lists alive today (module docstring); Spamhaus only with SPAMHAUS_DQS_KEY set."""
    key = os.environ.get("SPAMHAUS_DQS_KEY", "")
    return (
        DnsList(
            zone=f"{key}.zen.dq.spamhaus.net",
            action="quarantine",
            listed=("127.0.0.2-127.0.0.9",),
            policy=("127.0.0.10", "127.0.0.11"),
            errors=SPAMHAUS_ERRORS,
        ),
        DnsList(
            zone=f"{key}.dbl.dq.spamhaus.net",
            kind="domain",
            listed=("127.0.1.2-127.0.1.99", "127.0.1.102-127.0.1.106"),
            errors=("127.0.1.255", *SPAMHAUS_ERRORS),
            test_points=TestPoints(listed="dbltest.com", clean="invalid"),
        ),
        DnsList(zone="b.barracudacentral.org", action="quarantine"),
        DnsList(zone="bl.spamcop.net", action="quarantine"),
        DnsList(
            zone="bl.mailspike.net",
            action="quarantine",
            listed=("127.0.0.2", "127.0.0.10-127.0.0.12"),
        ),
        DnsList(zone="psbl.surriel.com", action="quarantine"),
        DnsList(zone="dnsbl-1.uceprotect.net", action="alert"),
        DnsList(
            zone="multi.surbl.org",
            kind="domain",
            listed=("127.0.0.2-127.0.0.254",),
            errors=("127.0.0.1",),
            test_points=TestPoints(listed="test.surbl.org", clean="invalid"),
        ),
        DnsList(
            zone="multi.uribl.com",
            kind="domain",
            listed=("127.0.0.2-127.0.0.14",),
            errors=("127.0.0.1",),
            test_points=TestPoints(listed="test.uribl.com", clean="invalid"),
        ),
    )


class ReputationSettings(Section):
    # host:port of the recursive resolver to ask. Spamhaus and URIBL refuse
    # public resolvers: a local one (unbound) is the documented set-up.
    resolver: str = "127.0.0.1:53"
    # Seconds between cycles, each drawn within +-jitter of it so hosts spread out.
    interval: float = Field(default=14400.0, gt=0)
    jitter: float = Field(default=0.1, ge=0, lt=1)
    # Queries in flight at once.
    concurrency: int = Field(default=20, gt=0)
    # Seconds one query may take; then it is recorded as an error.
    timeout: float = Field(default=5.0, gt=0)
    # Consecutive cycles a listing (or a delisting) must be seen before it acts.
    confirm: int = Field(default=2, ge=1)
    lists: tuple[DnsList, ...] = Field(default_factory=default_lists)

    @property
    def resolver_address(self) -> tuple[str, int]:
        host, _, port = self.resolver.rpartition(":")
        return host.strip("[]"), int(port)

    def problems(self) -> list[tuple[str, str]]:
        out = []
        host, sep, port = self.resolver.rpartition(":")
        try:
            ipaddress.ip_address(host.strip("[]"))
            if not sep or not 0 < int(port) < 65536:
                raise ValueError
        except ValueError:
            out.append(("resolver", "use host:port with an IP address, e.g. 127.0.0.1:53"))
        zones: set[str] = set()
        for i, dnslist in enumerate(self.lists):
            if dnslist.enabled and dnslist.zone in zones:
                out.append((f"lists[{i}].zone", f"{dnslist.zone} is listed twice"))
            zones.add(dnslist.zone)
        return out
