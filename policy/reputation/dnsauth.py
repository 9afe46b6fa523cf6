"""DNS authentication: what each check found, worded as one problem per line. Pure.

The scheduler (scheduler/reputation/dnsauth.py) asks DNS and hands the
answers here; these functions decide what is wrong and say it so that an
operator can fix the record from the sentence alone, e.g. ``SPF of
acme-mail.com does not cover 192.0.2.12: ends in ~all after
include:_spf.acme-mail.com (9 lookups)``. A problem fires the ``dns_check``
alert of its domain (or IP); a note is only shown.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from policy import dkim_dns
from policy.reputation import spf
from policy.reputation.dmarc import DmarcFinding, aligned
from policy.reputation.lookups import host

NOT_COVERED = ("fail", "softfail", "neutral")


@dataclass
class DomainReport:
    """Everything found about one domain (or one IP, for its PTR) of one tenant."""

    tenant: str
    target: str
    kind: str  # "domain" or "ip"
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class DnsCheckReport:
    at: float  # unix time the check started
    seconds: float
    queries: int
    reports: list[DomainReport]

    @property
    def problems(self) -> int:
        return sum(len(r.problems) for r in self.reports)


def spf_findings(
    domain: str, results: Mapping[str, spf.SpfResult], walk: spf.SpfResult
) -> tuple[list[str], list[str]]:
    """Problems and notes of ``domain``'s SPF: ``results`` per pool IP, ``walk`` its whole cost."""
    if walk.result == "none":
        return [f"SPF of {domain}: no SPF record (v=spf1) at {domain}"], []
    problems = [_spf_problem(domain, ip, r) for ip, r in results.items() if r.result != "pass"]
    if walk.result == "permerror" and not any(r.result == "permerror" for r in results.values()):
        # Our IPs match before the limit, but receivers answer permerror for the rest.
        problems.append(f"SPF of {domain} is broken for IPs it does not list: {walk.reason}")
    if walk.result == "temperror" and not results:
        problems.append(f"SPF of {domain} could not be checked: {walk.reason}")
    notes = [f"SPF of {domain}: {walk.lookups} of {spf.MAX_LOOKUPS} DNS lookups"]
    if walk.voids:
        notes[0] += f", {walk.voids} void"
    return problems, notes


def _spf_problem(domain: str, ip: str, r: spf.SpfResult) -> str:
    lookups = f"({r.lookups} lookup{'s' if r.lookups != 1 else ''})"
    if r.result in ("permerror", "temperror"):
        verb = "is broken for" if r.result == "permerror" else "could not be checked for"
        return f"SPF of {domain} {verb} {ip}: {r.reason} {lookups}"
    if r.result == "none":
        return f"SPF of {domain} does not cover {ip}: {r.reason}"
    where = f" of {r.where}" if r.where and r.where != host(domain) else ""
    ending = f"ends in {r.mechanism}{where}" if r.mechanism else "no term matches and no all"
    after = f" after {' '.join(r.before)}" if r.before else ""
    return f"SPF of {domain} does not cover {ip}: {ending}{after} {lookups}"


def dkim_problems(
    domain: str, selector: str, records: Sequence[str], key: dkim_dns.PrivateKey
) -> list[str]:
    """Does ``selector._domainkey.domain`` publish the public half of ``key``?"""
    name = dkim_dns.record_name(selector, domain)
    where = f"DKIM of {domain}, selector {selector}"
    keys = [tags for tags in map(_tags, records) if "p" in tags]
    if not keys:
        return [f"{where}: no key published at {name}"]
    ours = dkim_dns.key_type(key)
    problems = []
    for tags in keys:
        published = tags.get("k", "rsa").lower()
        if not tags["p"]:
            problems.append(f"{where}: the key at {name} is revoked (empty p=)")
        elif published != ours:
            problems.append(f"{where}: {name} publishes k={published}, the key file is {ours}")
        elif _same_key(tags["p"], key):
            return []
        else:
            problems.append(f"{where}: the key at {name} is not the public half of the key file")
    return problems


def _tags(record: str) -> dict[str, str]:
    tags = {}
    for part in record.split(";"):
        key, sep, value = part.partition("=")
        if sep:
            tags[key.strip().lower()] = "".join(value.split())
    return tags


def _same_key(published: str, key: dkim_dns.PrivateKey) -> bool:
    ours = base64.b64decode(dkim_dns.public_txt(key).rsplit("p=", 1)[1])
    try:
        theirs = base64.b64decode(published, validate=True)
    except (binascii.Error, ValueError):
        return False
    if theirs == ours or not isinstance(key, rsa.RSAPrivateKey):
        return theirs == ours
    # Some publish an RSA key as PKCS#1 rather than SubjectPublicKeyInfo: compare the numbers.
    try:
        loaded = serialization.load_der_public_key(theirs)
    except ValueError:
        try:
            loaded = serialization.load_der_public_key(_spki_from_pkcs1(theirs))
        except ValueError:
            return False
    return isinstance(loaded, rsa.RSAPublicKey) and (
        loaded.public_numbers() == key.public_key().public_numbers()
    )


def _spki_from_pkcs1(der: bytes) -> bytes:
    # SEQUENCE { AlgorithmIdentifier rsaEncryption NULL, BIT STRING { RSAPublicKey } }
    algorithm = bytes.fromhex("300d06092a864886f70d0101010500")
    bits = b"\x03" + _length(len(der) + 1) + b"\x00" + der
    body = algorithm + bits
    return b"\x30" + _length(len(body)) + body


def _length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def dmarc_findings(
    finding: DmarcFinding, dkim_domain: str | None, envelope_domain: str
) -> tuple[list[str], list[str]]:
    """Problems and notes of the From domain's DMARC, given what Sluice signs and sends as."""
    domain = finding.domain
    problems = [f"DMARC of {domain}: {p}" for p in finding.problems]
    if finding.found_at is None:
        above = " or above it" if "." in domain.split(".", 1)[-1] else ""
        problems.append(f"DMARC of {domain}: no record at _dmarc.{domain}{above}")
        return problems, []
    source = f"_dmarc.{finding.found_at}"
    if finding.inherited:
        source += f" (organizational domain {finding.found_at})"
    notes = [
        f"DMARC of {domain}: p={finding.policy} from {source}, "
        f"adkim={finding.adkim}, aspf={finding.aspf}"
    ]
    if finding.policy == "none":
        notes.append(f"DMARC of {domain}: p=none, receivers only report failures")
    org = finding.organizational
    dkim_ok = dkim_domain is not None and aligned(dkim_domain, domain, finding.adkim, org)
    spf_ok = aligned(envelope_domain, domain, finding.aspf, org)
    if not dkim_ok and not spf_ok:
        signed = (
            f"d={dkim_domain} is not aligned (adkim={finding.adkim})"
            if dkim_domain
            else "no DKIM key signs its mail"
        )
        problems.append(
            f"DMARC of {domain} cannot pass: {signed} and the envelope domain "
            f"{envelope_domain} is not aligned (aspf={finding.aspf})"
        )
    return problems, notes


def ptr_problems(
    ip: str, hostname: str | None, names: Sequence[str], forward: Mapping[str, Sequence[str]]
) -> list[str]:
    """PTR of ``ip``: present, forward-confirmed (FCrDNS), and the configured host name."""
    if not names:
        return [f"PTR of {ip}: none published at {ipaddress.ip_address(ip).reverse_pointer}"]
    wanted = host(ip)
    confirmed = [n for n in names if wanted in {_ip(a) for a in forward.get(n, ())}]
    problems = []
    if not confirmed:
        shown = ", ".join(f"{n} -> {', '.join(forward.get(n, ())) or 'nothing'}" for n in names)
        problems.append(f"PTR of {ip} is not forward-confirmed: {shown}")
    if hostname and host(hostname) not in {host(n) for n in names}:
        problems.append(f"PTR of {ip} is {', '.join(names)}, not the configured {hostname}")
    return problems


def mx_problems(
    domain: str,
    mx_hosts: Sequence[str],
    addresses: Mapping[str, Sequence[str]],
    inbound: str,
    expected: Iterable[str],
) -> list[str]:
    """Does mail to the bounce domain reach the inbound listener's host (``inbound``)?"""
    wanted = {_ip(a) for a in expected}
    if not wanted:
        return [f"MX of {domain}: the inbound host {inbound} does not resolve"]
    # No MX: mail goes to the domain's own address (RFC 5321 §5.1, the implicit MX).
    hosts = list(mx_hosts) or [domain]
    reached = [h for h in hosts if wanted & {_ip(a) for a in addresses.get(h, ())}]
    if reached:
        return []
    shown = ", ".join(f"{h} -> {', '.join(addresses.get(h, ())) or 'nothing'}" for h in hosts)
    kind = "MX" if mx_hosts else "no MX, and its address"
    return [f"MX of {domain} does not reach the inbound host {inbound}: {kind} {shown}"]


def tracking_problems(name: str, addresses: Sequence[str]) -> list[str]:
    if addresses:
        return []
    return [f"Tracking domain {name} does not resolve (no A or AAAA record)"]


def _ip(text: str) -> str:
    try:
        return str(ipaddress.ip_address(text.strip()))
    except ValueError:
        return text.strip().lower()
