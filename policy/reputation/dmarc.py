"""DMARC (RFC 9989): the record that applies to a domain, its policy and alignment. Pure.

``discover`` walks the DNS tree as RFC 9989 §4.10 does (and checkdmarc 6):
``_dmarc.<domain>`` first, then, from at most 7 labels, one label fewer at
a time up to the top, at most 8 queries; a level with no record or with
several (receivers use none of them) moves the walk up. A record found
above the domain is its organizational domain's, whose ``sp=`` (else
``p=``) applies to the subdomain.

Alignment is judged against the organizational domain, which the same walk
finds by going on past the record that applies (RFC 9989 §4.10.2): a record
with ``psd=n`` names its own domain, one with ``psd=y`` the name one label
below it on the path (a public suffix's registrant), and otherwise the record
with the fewest labels wins; with no record at all, the domain is its own.
Relaxed alignment holds when both names are it or under it.
"""

from __future__ import annotations

from dataclasses import dataclass

from policy.reputation.lookups import Lookup, host

MAX_QUERIES = 8
POLICIES = ("none", "quarantine", "reject")


@dataclass(frozen=True)
class DmarcFinding:
    domain: str
    found_at: str | None  # the name whose _dmarc record applies; None: no record
    tags: dict[str, str]
    problems: tuple[str, ...] = ()  # records receivers ignore, bad tags
    queries: int = 0
    org: str | None = None  # the organizational domain the walk found (§4.10.2)

    @property
    def inherited(self) -> bool:
        return self.found_at is not None and self.found_at != self.domain

    @property
    def policy(self) -> str:
        """What receivers do with a failing message from ``domain``: none, quarantine, reject."""
        if self.found_at is None:
            return ""
        # A missing p= counts as none (RFC 9989 §5.3); a subdomain takes sp= first.
        tag = self.tags.get("sp") if self.inherited else None
        return (tag or self.tags.get("p") or "none").lower()

    @property
    def adkim(self) -> str:
        return "s" if self.tags.get("adkim", "r").lower() == "s" else "r"

    @property
    def aspf(self) -> str:
        return "s" if self.tags.get("aspf", "r").lower() == "s" else "r"

    @property
    def organizational(self) -> str:
        return self.org or self.found_at or self.domain


def walk_names(domain: str) -> list[str]:
    """The names whose ``_dmarc`` record is asked, in order (RFC 9989 §4.10.1)."""
    labels = host(domain).split(".")
    names = [".".join(labels)]
    rest = labels[-7:] if len(labels) >= 8 else labels[1:]
    while rest and len(names) < MAX_QUERIES:
        names.append(".".join(rest))
        rest = rest[1:]
    return names


def parse(text: str) -> dict[str, str] | None:
    """A record's tags, or None when it is not a DMARC record (v=DMARC1 first)."""
    parts = [part.strip() for part in text.split(";")]
    if parts[0].replace(" ", "").lower() != "v=dmarc1":
        return None
    tags: dict[str, str] = {}
    for part in parts:
        key, sep, value = part.partition("=")
        if sep:
            tags.setdefault(key.strip().lower(), value.strip())
    return tags


async def discover(domain: str, lookup: Lookup) -> DmarcFinding:
    """The record that applies to ``domain`` and its organizational domain; raises
    DnsFailure when the resolver fails."""
    domain = host(domain)
    problems: list[str] = []
    applies: tuple[str, dict[str, str]] | None = None
    org: str | None = None
    names = walk_names(domain)
    queries = 0
    for i, name in enumerate(names):
        queries += 1
        found = [t for t in map(parse, await lookup(f"_dmarc.{name}", "TXT")) if t is not None]
        if len(found) > 1:
            problems.append(f"{len(found)} records at _dmarc.{name}; receivers ignore them all")
        if len(found) != 1:
            continue
        tags = found[0]
        if applies is None:
            applies = (name, tags)
            problems += _tag_problems(name, tags)
        psd = tags.get("psd", "").lower()
        if psd == "n":
            org = name
            break
        if psd == "y":
            org = names[i - 1] if i > 0 else name
            break
        org = name  # no psd tag: the fewest labels so far; the walk goes on
    if applies is None:
        return DmarcFinding(domain, None, {}, tuple(problems), queries)
    return DmarcFinding(domain, applies[0], applies[1], tuple(problems), queries, org)


def _tag_problems(name: str, tags: dict[str, str]) -> list[str]:
    out = []
    for key in ("p", "sp", "np"):
        value = tags.get(key)
        if value is not None and value.lower() not in POLICIES:
            out.append(f"_dmarc.{name} has {key}={value}, not none, quarantine or reject")
    return out


def aligned(identifier: str, from_domain: str, mode: str, organizational: str) -> bool:
    """Is ``identifier`` (a DKIM d= or SPF envelope domain) aligned with the From domain?"""
    ident, author, org = host(identifier), host(from_domain), host(organizational)
    if mode == "s":
        return ident == author
    return ident == author or (_under(ident, org) and _under(author, org))


def _under(name: str, zone: str) -> bool:
    return name == zone or name.endswith("." + zone)
