"""Signed, encrypted tokens for Sluice's public links: clicks, opens, unsubscribes, VERP.

A token is what goes after ``/t/c/`` or ``/t/o/`` in a tracking URL, and into
unsubscribe links and VERP return paths. It must let Sluice, and only Sluice,
recover who received the link and where it leads, and nobody else must be able
to mint or alter one: an unsigned click link is an open redirect.

Layout (then base64url without padding, so the alphabet is ``A-Z a-z 0-9 - _``)::

    version (1 byte) | key id (1 byte) | AES-SIV( plaintext ) = tag (16) || ciphertext
    plaintext = issued_at (u32 BE) | link_index (varint)
              | tenant | message_id | recipient  (each a varint length + UTF-8)
              | url (UTF-8, the rest; empty means "no URL")

The kind is authenticated as associated data but not stored, so a click token
presented at the open endpoint fails the tag check exactly like a forgery does,
and the kind costs no bytes.

Why AES-SIV (RFC 5297, from ``cryptography``, already a Sluice dependency for
DKIM) rather than HMAC over a readable payload: the recipient address must not
appear in clear in a URL, so the payload has to be encrypted anyway, and SIV's
16-byte synthetic IV *is* the MAC (S2V/CMAC, 128 bits, so a forger's chance
per attempt is 2**-128; nothing is truncated). SIV needs no nonce: no 12 bytes
of GCM nonce in every URL, and no catastrophe if a nonce repeats across the
billions of tokens one key signs. It is deterministic, so the same link for
the same recipient in the same second yields the same token, which only tells
an observer that two links are equal. The module stays pure: no I/O, no store.

Why the URL travels inside the token rather than in a server-side table keyed
by (message id, link index): the click endpoint then needs no database read
to redirect, and a message relayed by one gateway host can be clicked through
any other. The cost is length: with a 4-character tenant, a 16-character
message id and a 20-character recipient, a token is 88 characters plus 4/3 of
the URL: 222 for a 100-character URL, under 300 up to about 155. Longer URLs
give longer tokens, which mail clients accept (hrefs of a few kilobytes work).

Key rotation: ``TokenKeys(secrets)`` signs with the first (newest) secret and
verifies with any. The key id byte is derived from the secret, not from its
position, so prepending a new secret does not invalidate tokens already sent.
Two secrets may share an id byte (1 in 256); verification then tries both.

``issued_at`` rides along so the tracking endpoints can tell a prefetch seconds
after delivery (Apple Mail Privacy Protection, link scanners) from a human.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESSIV

KINDS: tuple[str, ...] = ("click", "open", "unsubscribe", "verp")

_VERSION = 1
_TAG_LEN = 16
_MIN_SECRET_LEN = 16
# version, key id, tag, issued_at and four one-byte varints: nothing shorter can be a token.
_MIN_RAW_LEN = 2 + _TAG_LEN + 4 + 4
_B64URL = re.compile(r"[A-Za-z0-9_-]+")


class BadToken(ValueError):
    """The token is forged, altered, truncated, of another kind, or not a token at all."""


@dataclass(frozen=True)
class TokenData:
    kind: str
    tenant: str
    message_id: str
    recipient: str
    link_index: int
    url: str | None
    issued_at: int


@dataclass(frozen=True)
class _Key:
    key_id: int
    cipher: AESSIV


@dataclass(frozen=True)
class TokenKeys:
    """Token secrets, newest first: the first signs, every one verifies."""

    secrets: Sequence[str] = field(repr=False)
    _keys: tuple[_Key, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        secrets = tuple(self.secrets)
        if not secrets:
            raise ValueError("token keys need at least one secret")
        for secret in secrets:
            if not isinstance(secret, str) or len(secret) < _MIN_SECRET_LEN:
                raise ValueError(f"each token secret must be at least {_MIN_SECRET_LEN} characters")
        object.__setattr__(self, "secrets", secrets)
        object.__setattr__(self, "_keys", tuple(_derive(s) for s in secrets))


def _derive(secret: str) -> _Key:
    raw = secret.encode()
    # Labelled HMAC as the KDF: the operator's secret is never used as an AES key directly,
    # and the key id reveals nothing about the secret.
    key_id = hmac.digest(raw, b"sluice token key id v1", "sha256")[0]
    cipher = AESSIV(hmac.digest(raw, b"sluice token key v1", "sha512"))
    return _Key(key_id, cipher)


def issue(
    keys: TokenKeys,
    kind: str,
    tenant: str,
    message_id: str,
    recipient: str,
    link_index: int = 0,
    url: str | None = None,
    *,
    issued_at: int | None = None,
) -> str:
    """A URL-safe token for one link of one message to one recipient."""
    if kind not in KINDS:
        raise ValueError(f"unknown token kind {kind!r}")
    if link_index < 0:
        raise ValueError("link_index must not be negative")
    when = int(time.time()) if issued_at is None else issued_at
    if not 0 <= when < 2**32:
        raise ValueError("issued_at must fit in 32 bits")
    plaintext = b"".join(
        (
            struct.pack(">I", when),
            _varint(link_index),
            _field(tenant),
            _field(message_id),
            _field(recipient),
            (url or "").encode(),
        )
    )
    key = keys._keys[0]
    header = bytes((_VERSION, key.key_id))
    sealed = key.cipher.encrypt(plaintext, [header, kind.encode()])
    return base64.urlsafe_b64encode(header + sealed).rstrip(b"=").decode("ascii")


def verify(keys: TokenKeys, token: str, kind: str) -> TokenData:
    """The data a token carries, or ``BadToken``; never any other exception."""
    raw = _decode(token)
    if raw[0] != _VERSION or kind not in KINDS:
        raise BadToken("not a Sluice token of this kind")
    header, sealed = raw[:2], raw[2:]
    associated = [header, kind.encode()]
    for key in keys._keys:
        if key.key_id != header[1]:
            continue
        try:
            plaintext = key.cipher.decrypt(sealed, associated)
        except InvalidTag:
            continue
        return _unpack(kind, plaintext)
    raise BadToken("token signature does not verify")


def _decode(token: object) -> bytes:
    if not isinstance(token, str) or not _B64URL.fullmatch(token):
        raise BadToken("token is not base64url")
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError) as exc:
        raise BadToken("token is not base64url") from exc
    # The last character of unpadded base64 carries spare bits; insist on the one
    # canonical spelling so that no two strings are the same token.
    if len(raw) < _MIN_RAW_LEN or base64.urlsafe_b64encode(raw).rstrip(b"=") != token.encode():
        raise BadToken("token is truncated or not canonical")
    return raw


def _unpack(kind: str, plaintext: bytes) -> TokenData:
    # Authentic plaintext was built by issue(); a parse failure here would mean a bug
    # or a leaked key, and must still surface as BadToken, never as IndexError.
    try:
        (issued_at,) = struct.unpack_from(">I", plaintext, 0)
        link_index, pos = _read_varint(plaintext, 4)
        tenant, pos = _read_field(plaintext, pos)
        message_id, pos = _read_field(plaintext, pos)
        recipient, pos = _read_field(plaintext, pos)
        url = plaintext[pos:].decode() or None
    except (struct.error, IndexError, UnicodeDecodeError, ValueError) as exc:
        raise BadToken("token payload is malformed") from exc
    return TokenData(kind, tenant, message_id, recipient, link_index, url, issued_at)


def _varint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    n = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        n |= (byte & 0x7F) << shift
        if byte < 0x80:
            return n, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def _field(value: str) -> bytes:
    raw = value.encode()
    return _varint(len(raw)) + raw


def _read_field(data: bytes, pos: int) -> tuple[str, int]:
    length, pos = _read_varint(data, pos)
    end = pos + length
    if end > len(data):
        raise ValueError("field runs past the payload")
    return data[pos:end].decode(), end
