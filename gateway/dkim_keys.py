"""DKIM signing keys for Sluice: load, validate, generate, and publish.

Accepted private key files:

* PKCS#8 PEM ("BEGIN PRIVATE KEY"), as ``openssl genpkey`` writes for RSA and Ed25519;
* PKCS#1 PEM ("BEGIN RSA PRIVATE KEY"), as ``openssl genrsa`` and dkimpy's ``dknewkey`` write;
* a bare base64 Ed25519 seed (32 bytes), as ``dknewkey --ktype ed25519`` writes; the 64-byte
  seed-plus-public-key form some signers use is accepted too and cross-checked.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from policy import dkim_dns

ALGORITHMS = ("rsa-sha256", "ed25519-sha256")
# RFC 8301 §3.2: signers MUST use RSA keys of at least 1024 bits (and SHOULD use 2048).
MIN_RSA_BITS = 1024

PrivateKey = dkim_dns.PrivateKey

# RFC 6376 §3.1: a selector is one or more dot-separated sub-domain labels.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?"
_SELECTOR = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*$")
_DOMAIN = re.compile(rf"^{_LABEL}(?:\.{_LABEL})+$")


class DkimError(Exception):
    """A message or key that Sluice cannot DKIM-sign."""


class DkimKeyError(DkimError):
    """A key file or key parameter that is unusable; the message names the file."""


def normalise_domain(domain: str) -> str:
    """Lower-case A-label form without a trailing dot, as d= and DNS lookups use."""
    domain = domain.strip().rstrip(".").lower()
    if not domain.isascii():
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise DkimKeyError(f"domain {domain!r} is not a valid domain name") from exc
    if len(domain) > 253 or not _DOMAIN.match(domain):
        raise DkimKeyError(f"domain {domain!r} is not a valid domain name")
    return domain


def _check_selector(selector: str) -> str:
    if not _SELECTOR.match(selector):
        raise DkimKeyError(f"selector {selector!r} is not a valid DNS label sequence")
    return selector


@dataclass(frozen=True)
class DkimKey:
    """One signing identity: d= domain, s= selector and the private key behind them."""

    domain: str
    selector: str
    algorithm: str  # "rsa-sha256" | "ed25519-sha256"
    private_key: PrivateKey

    def __post_init__(self) -> None:
        object.__setattr__(self, "domain", normalise_domain(self.domain))
        _check_selector(self.selector)
        if self.algorithm == "rsa-sha256":
            if not isinstance(self.private_key, rsa.RSAPrivateKey):
                raise DkimKeyError("rsa-sha256 needs an RSA private key")
            if self.private_key.key_size < MIN_RSA_BITS:
                raise DkimKeyError(
                    f"RSA key is {self.private_key.key_size} bits; DKIM needs at least "
                    f"{MIN_RSA_BITS} (RFC 8301)"
                )
        elif self.algorithm == "ed25519-sha256":
            if not isinstance(self.private_key, ed25519.Ed25519PrivateKey):
                raise DkimKeyError("ed25519-sha256 needs an Ed25519 private key")
        else:
            raise DkimKeyError(f"unsupported DKIM algorithm {self.algorithm!r}")

    def __repr__(self) -> str:
        # Never let a private key reach a log line through repr().
        return f"DkimKey({self.algorithm} s={self.selector} d={self.domain})"


def _parse_private_key(data: bytes) -> PrivateKey:
    """The key in ``data``; raises ValueError with a reason the caller prefixes with the path."""
    return dkim_dns.parse_private_key(data)


def load_key(path: str | Path, domain: str, selector: str) -> DkimKey:
    """Read a private key file into a DkimKey; every failure is a DkimKeyError naming ``path``."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise DkimKeyError(f"{path}: key file not found") from None
    except OSError as exc:
        raise DkimKeyError(f"{path}: cannot read key file ({exc.strerror})") from None
    try:
        key = _parse_private_key(data)
    except ValueError as exc:
        raise DkimKeyError(f"{path}: {exc}") from None
    algorithm = "rsa-sha256" if isinstance(key, rsa.RSAPrivateKey) else "ed25519-sha256"
    try:
        return DkimKey(domain, selector, algorithm, key)
    except DkimKeyError as exc:
        raise DkimKeyError(f"{path}: {exc}") from None


def public_txt(key: PrivateKey) -> str:
    """The TXT value publishing ``key``'s public half (RFC 6376 §3.6.1, RFC 8463 §4)."""
    return dkim_dns.public_txt(key)


def generate_key(algorithm: Literal["rsa", "ed25519"], bits: int = 2048) -> tuple[bytes, str]:
    """A fresh key: (PKCS#8 PEM of the private key, TXT value for DNS). ``bits`` is RSA only."""
    key: PrivateKey
    if algorithm == "rsa":
        if bits < MIN_RSA_BITS:
            raise DkimKeyError(f"RSA keys need at least {MIN_RSA_BITS} bits (RFC 8301)")
        key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    elif algorithm == "ed25519":
        key = ed25519.Ed25519PrivateKey.generate()
    else:
        raise DkimKeyError(f"unsupported key algorithm {algorithm!r}; use rsa or ed25519")
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return pem, public_txt(key)


def dns_record(domain: str, selector: str, dns_txt_value: str) -> str:
    """A zone-file line for the key record, the value split into <=255-byte strings."""
    name = dkim_dns.record_name(_check_selector(selector), normalise_domain(domain))
    return dkim_dns.zone_line(name, dns_txt_value)


def keygen_to_file(
    path: str | Path, domain: str, selector: str, algorithm: Literal["rsa", "ed25519"]
) -> str:
    """Write a new private key to ``path`` (mode 0600, never overwriting); return its DNS record."""
    domain = normalise_domain(domain)
    _check_selector(selector)
    pem, txt = generate_key(algorithm)
    try:
        # O_EXCL: refuse to replace a key that DNS may already publish; 0600 from the start,
        # so the key is never readable by others, not even between create and chmod.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise DkimKeyError(f"{path}: already exists; refusing to overwrite a key") from None
    except OSError as exc:
        raise DkimKeyError(f"{path}: cannot create key file ({exc.strerror})") from None
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    return dns_record(domain, selector, txt)
