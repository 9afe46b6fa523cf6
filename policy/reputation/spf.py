"""SPF (RFC 7208): does a domain's record authorise one IP, and at what DNS cost. Pure.

``check_host`` is RFC 7208 §4 over a Lookup (policy/reputation/lookups.py),
so every query goes where the scheduler points it, and a test can answer
from a dict: include, a, mx, ptr, ip4, ip6, exists, all, redirect, macros in
domain-specs (§7), and the limits of §4.6.4: 10 DNS-querying terms, 2 void
lookups, 10 addresses behind one mx or ptr. A limit passed is a permerror,
as receivers answer it.

With ``ip=None`` nothing that names addresses matches (ip4, ip6, a, mx, ptr,
exists), so the walk visits every term a receiver visits for an IP the
record does not list: its ``lookups`` is the record's whole cost, as
checkdmarc counts it. We evaluate ourselves rather than through pyspf
because pyspf is synchronous and asks DNS its own way, not our resolver.
"""

from __future__ import annotations

import ipaddress
import re
import urllib.parse
from dataclasses import dataclass

from policy.reputation.lookups import DnsFailure, Lookup, address_type, host, reverse_name

QUALIFIERS = {"+": "pass", "-": "fail", "~": "softfail", "?": "neutral"}
MECHANISMS = ("all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists")
MAX_LOOKUPS = 10
MAX_VOIDS = 2
MAX_ADDRESSES = 10  # per mx or ptr term

_MODIFIER = re.compile(r"^([A-Za-z][A-Za-z0-9_.-]*)=(.*)$")
_MECHANISM = re.compile(r"^([+\-~?]?)([A-Za-z][A-Za-z0-9_-]*)(.*)$")
_DUAL_CIDR = re.compile(r"^(?::([^/]+))?(?:/(\d+))?(?://(\d+))?$")
_MACRO = re.compile(r"%\{([slodiphcrtv])(\d*)(r?)([.\-+,/_=]*)\}|%%|%_|%-", re.IGNORECASE)

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class SpfSyntaxError(ValueError):
    """A record or macro RFC 7208 does not allow (a permerror where it is met)."""


@dataclass(frozen=True)
class Term:
    text: str  # as written, for reports
    qualifier: str
    name: str
    spec: str = ""  # domain-spec, or the network of ip4/ip6
    cidr4: int | None = None
    cidr6: int | None = None


@dataclass(frozen=True)
class Record:
    mechanisms: tuple[Term, ...]
    redirect: str | None = None


@dataclass(frozen=True)
class SpfResult:
    result: str  # pass fail softfail neutral none permerror temperror
    domain: str
    mechanism: str = ""  # the term that decided ("~all", "ip4:192.0.2.0/24"); "" for none
    where: str = ""  # the domain whose record held it (a redirect's target)
    before: tuple[str, ...] = ()  # the terms of that record evaluated before it
    lookups: int = 0
    voids: int = 0
    reason: str = ""  # why none, permerror or temperror


class _Stop(Exception):
    def __init__(self, result: str, reason: str) -> None:
        super().__init__(reason)
        self.result, self.reason = result, reason


@dataclass
class _Walk:
    ip: Address | None
    sender: str
    lookup: Lookup
    lookups: int = 0
    voids: int = 0

    def count(self, term: str) -> None:
        self.lookups += 1
        if self.lookups > MAX_LOOKUPS:
            raise _Stop("permerror", f"more than {MAX_LOOKUPS} DNS lookups: {term} is the 11th")


def parse(text: str) -> Record:
    """The terms of one ``v=spf1`` record; SpfSyntaxError naming the bad term."""
    words = text.split()
    if not words or words[0].lower() != "v=spf1":
        raise SpfSyntaxError("not an SPF record")
    mechanisms: list[Term] = []
    redirect = None
    for word in words[1:]:
        modifier = _MODIFIER.match(word)
        if modifier:
            if modifier.group(1).lower() == "redirect":
                if redirect is not None:
                    raise SpfSyntaxError("redirect= appears twice")
                redirect = modifier.group(2)
            continue  # exp= and unknown modifiers change no result (§6)
        mechanisms.append(_term(word))
    return Record(tuple(mechanisms), redirect)


def _term(word: str) -> Term:
    match = _MECHANISM.match(word)
    name = match.group(2).lower() if match else ""
    if match is None or name not in MECHANISMS:
        raise SpfSyntaxError(f"unknown mechanism {word}")
    qualifier, rest = match.group(1) or "+", match.group(3)
    if name == "all":
        if rest:
            raise SpfSyntaxError(f"{word}: all takes no argument")
        return Term(word, qualifier, name)
    if name in ("ip4", "ip6"):
        try:
            network = ipaddress.ip_network(rest[1:], strict=False)
        except ValueError:
            raise SpfSyntaxError(f"{word}: not a network") from None
        if not rest.startswith(":") or network.version != int(name[2]):
            raise SpfSyntaxError(f"{word}: not an IPv{name[2]} network")
        return Term(word, qualifier, name, str(network))
    if name in ("include", "exists"):
        if not rest.startswith(":") or len(rest) < 2:
            raise SpfSyntaxError(f"{word}: needs :domain")
        return Term(word, qualifier, name, rest[1:])
    dual = _DUAL_CIDR.match(rest)
    if dual is None or (name == "ptr" and (dual.group(2) or dual.group(3))):
        raise SpfSyntaxError(f"{word}: bad domain or prefix length")
    cidr4 = int(dual.group(2)) if dual.group(2) else None
    cidr6 = int(dual.group(3)) if dual.group(3) else None
    if (cidr4 is not None and cidr4 > 32) or (cidr6 is not None and cidr6 > 128):
        raise SpfSyntaxError(f"{word}: prefix length out of range")
    return Term(word, qualifier, name, dual.group(1) or "", cidr4, cidr6)


async def check_host(
    ip: str | None, domain: str, lookup: Lookup, sender: str | None = None
) -> SpfResult:
    """RFC 7208 check_host for ``ip`` sending as ``sender`` (postmaster@domain by default)."""
    walk = _Walk(ipaddress.ip_address(ip) if ip else None, sender or f"postmaster@{domain}", lookup)
    try:
        result, mechanism, where, before = await _check(walk, host(domain))
    except _Stop as stop:
        reason = stop.reason
        return SpfResult(stop.result, domain, lookups=walk.lookups, voids=walk.voids, reason=reason)
    return SpfResult(result, domain, mechanism, where, before, walk.lookups, walk.voids)


async def _check(walk: _Walk, domain: str) -> tuple[str, str, str, tuple[str, ...]]:
    record = await _record(walk, domain)
    before: list[str] = []
    for term in record.mechanisms:
        if await _matches(walk, term, domain):
            return QUALIFIERS[term.qualifier], term.text, domain, tuple(before)
        before.append(term.text)
    if record.redirect is None:  # no match and no all: neutral (§4.7)
        return "neutral", "", domain, tuple(before)
    # A record with "all" never gets here: all matches, and then redirect is ignored (§6.1).
    walk.count(f"redirect={record.redirect}")
    target = _expand(walk, record.redirect, domain)
    try:
        return await _check(walk, target)
    except _Stop as stop:
        if stop.result == "none":
            raise _Stop("permerror", f"redirect={record.redirect}: {stop.reason}") from None
        raise


async def _record(walk: _Walk, domain: str) -> Record:
    try:
        texts = await walk.lookup(domain, "TXT")
    except DnsFailure as exc:
        raise _Stop("temperror", f"TXT of {domain}: {exc}") from None
    spf = [t for t in texts if t.lower() == "v=spf1" or t.lower().startswith("v=spf1 ")]
    if not spf:
        raise _Stop("none", f"{domain} publishes no SPF record")
    if len(spf) > 1:
        raise _Stop("permerror", f"{domain} publishes {len(spf)} SPF records")
    try:
        return parse(spf[0])
    except SpfSyntaxError as exc:
        raise _Stop("permerror", f"{domain}: {exc}") from None


async def _matches(walk: _Walk, term: Term, domain: str) -> bool:
    if term.name == "all":
        return True
    if term.name in ("ip4", "ip6"):
        return walk.ip is not None and walk.ip in ipaddress.ip_network(term.spec)
    walk.count(term.text)
    target = _expand(walk, term.spec, domain) if term.spec else domain
    if term.name == "include":
        try:
            result, *_ = await _check(walk, target)
        except _Stop as stop:
            if stop.result == "none":  # §5.2: an include without a record is a permerror
                raise _Stop("permerror", f"{term.text}: {stop.reason}") from None
            raise
        return result == "pass"
    if term.name == "exists":
        found = await _query(walk, target, "A", term.text, void=True)
        return walk.ip is not None and bool(found)
    if term.name == "a":
        return _covers(walk.ip, await _query(walk, target, _family(walk), term.text, True), term)
    if term.name == "mx":
        return await _mx(walk, term, target)
    return await _ptr(walk, term, target)


async def _mx(walk: _Walk, term: Term, target: str) -> bool:
    records = await _query(walk, target, "MX", term.text, void=True)
    if len(records) > MAX_ADDRESSES:
        raise _Stop("permerror", f"{term.text}: {len(records)} MX hosts (at most 10)")
    for record in records:
        mx_host = host(record.split()[-1])
        if _covers(walk.ip, await _query(walk, mx_host, _family(walk), term.text, False), term):
            return True
    return False


async def _ptr(walk: _Walk, term: Term, target: str) -> bool:
    if walk.ip is None:
        return False
    names = await _query(walk, reverse_name(str(walk.ip)), "PTR", term.text, void=True)
    for name in names[:MAX_ADDRESSES]:
        name = host(name)
        if name == target or name.endswith("." + target):
            addresses = await _query(walk, name, _family(walk), term.text, False)
            if str(walk.ip) in {str(ipaddress.ip_address(a)) for a in addresses}:
                return True
    return False


def _family(walk: _Walk) -> str:
    return address_type(str(walk.ip)) if walk.ip is not None else "A"


def _covers(ip: Address | None, addresses: list[str], term: Term) -> bool:
    if ip is None:
        return False
    prefix = term.cidr4 if ip.version == 4 else term.cidr6
    for address in addresses:
        network = ipaddress.ip_network(f"{address}/{prefix or ip.max_prefixlen}", strict=False)
        if ip in network:
            return True
    return False


async def _query(walk: _Walk, name: str, rdtype: str, term: str, void: bool) -> list[str]:
    try:
        records = await walk.lookup(name, rdtype)
    except DnsFailure as exc:
        raise _Stop("temperror", f"{term}: {rdtype} of {name}: {exc}") from None
    if not records and void:
        walk.voids += 1
        if walk.voids > MAX_VOIDS:
            raise _Stop("permerror", f"more than {MAX_VOIDS} void lookups: {term} is the 3rd")
    return records


def _expand(walk: _Walk, spec: str, domain: str) -> str:
    """A domain-spec with its macros (§7) filled in, as a name to ask."""
    if "%" in _MACRO.sub("", spec):
        raise _Stop("permerror", f"bad macro in {spec}")
    local, _, sender_domain = walk.sender.rpartition("@")
    values = {
        "s": walk.sender,
        "l": local or "postmaster",
        "o": sender_domain,
        "d": domain,
        "i": _dotted(walk.ip),
        "p": "unknown",
        "v": "ip6" if walk.ip is not None and walk.ip.version == 6 else "in-addr",
        "h": sender_domain,
    }

    def one(match: re.Match[str]) -> str:
        if match.group(1) is None:
            return {"%%": "%", "%_": " ", "%-": "%20"}[match.group(0)]
        letter = match.group(1)
        delimiters = "[" + re.escape(match.group(4) or ".") + "]"
        parts = re.split(delimiters, values.get(letter.lower(), ""))
        if match.group(3):
            parts.reverse()
        if match.group(2):
            if int(match.group(2)) == 0:
                raise _Stop("permerror", f"bad macro in {spec}: zero labels")
            parts = parts[-int(match.group(2)) :]
        out = ".".join(parts)
        return urllib.parse.quote(out, safe="") if letter.isupper() else out

    name = host(_MACRO.sub(one, spec))
    while len(name) > 253 and "." in name:  # §7.3: drop labels from the left until it fits
        name = name.split(".", 1)[1]
    return name


def _dotted(ip: Address | None) -> str:
    if ip is None:
        return "0.0.0.0"  # the walk matches no address; any name will do
    if ip.version == 4:
        return str(ip)
    return ".".join(ip.exploded.replace(":", ""))
