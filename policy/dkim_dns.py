"""DKIM key records for DNS: the public half of a private key as a TXT record.

Pure: key bytes and key objects in, text out. ``sluice dkim-keygen`` prints a
record through it and the admin API lists the records of a domain through it,
so the two can never publish different values for one key.
"""

from __future__ import annotations

import base64
import binascii

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

PrivateKey = rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey

# One TXT character-string holds at most 255 octets (RFC 1035 §3.3).
TXT_STRING_MAX = 255


def parse_private_key(data: bytes) -> PrivateKey:
    """The key in ``data``; raises ValueError with a reason the caller prefixes with the path.

    PKCS#8 or PKCS#1 PEM, or a bare base64 Ed25519 seed (32 bytes, or 64 with the
    public half, which must match).
    """
    if b"-----BEGIN" in data:
        if b"PUBLIC KEY-----" in data and b"PRIVATE KEY-----" not in data:
            raise ValueError("is a public key, not a private key")
        if b"ENCRYPTED PRIVATE KEY" in data or b"Proc-Type: 4,ENCRYPTED" in data:
            raise ValueError("is an encrypted private key; Sluice needs it unencrypted")
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            raise ValueError(f"is not a readable PEM private key ({exc})") from None
        if not isinstance(key, rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey):
            raise ValueError(
                f"holds an unsupported key type ({type(key).__name__}); "
                "DKIM signs with RSA or Ed25519 only"
            )
        return key
    try:
        raw = base64.b64decode(b"".join(data.split()), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("is neither a PEM private key nor a base64 Ed25519 seed") from None
    if len(raw) == 32:
        return ed25519.Ed25519PrivateKey.from_private_bytes(raw)
    if len(raw) == 64:
        # libsodium's secret key layout: seed then public key; the halves must agree.
        key = ed25519.Ed25519PrivateKey.from_private_bytes(raw[:32])
        public = key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        if public != raw[32:]:
            raise ValueError("is a 64-byte Ed25519 key whose public half does not match its seed")
        return key
    raise ValueError(
        f"is base64 of {len(raw)} bytes; an Ed25519 seed is 32 (or 64 with the public key)"
    )


def key_type(key: PrivateKey) -> str:
    """The k= tag of ``key``'s record: "rsa" or "ed25519"."""
    return "rsa" if isinstance(key, rsa.RSAPrivateKey) else "ed25519"


def public_txt(key: PrivateKey) -> str:
    """The TXT value publishing ``key``'s public half (RFC 6376 §3.6.1, RFC 8463 §4)."""
    if isinstance(key, rsa.RSAPrivateKey):
        # p= for RSA is the DER SubjectPublicKeyInfo (RFC 6376 §3.6.1).
        der = key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return f"v=DKIM1; k=rsa; p={base64.b64encode(der).decode()}"
    # p= for Ed25519 is the bare 32-byte public key, not an SPKI wrapper (RFC 8463 §4).
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return f"v=DKIM1; k=ed25519; p={base64.b64encode(raw).decode()}"


def txt_strings(value: str) -> list[str]:
    """``value`` cut into character-strings of at most 255 octets.

    A 2048-bit RSA p= is longer than one string holds; resolvers join the
    strings of one record back together (RFC 6376 §3.6.2.2). The value is
    ASCII, so characters and octets count alike.
    """
    return [value[i : i + TXT_STRING_MAX] for i in range(0, len(value), TXT_STRING_MAX)]


def record_name(selector: str, domain: str) -> str:
    """Where a selector's key is published: ``selector._domainkey.domain`` (no final dot)."""
    return f"{selector}._domainkey.{domain}"


def zone_line(name: str, value: str) -> str:
    """A zone-file line publishing ``value`` at ``name``, split into 255-octet strings."""
    strings = " ".join(f'"{chunk}"' for chunk in txt_strings(value))
    return f"{name}. IN TXT ( {strings} )"
