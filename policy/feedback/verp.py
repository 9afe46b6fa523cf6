"""VERP return paths: which message, recipient and IP a bounce answers.

Relayed mail of a tenant with a ``bounce_domain`` leaves with the envelope
sender ``bounces+<token>@<bounce_domain>``. The token binds the one
recipient it was issued for: feedback about any other address, under that
token or any other, acts on nothing (``policy.feedback.decision.match``).

Only a transaction with exactly one recipient gets a token. One SMTP
transaction to PowerMTA has one envelope sender for all its recipients, and
a token naming none of them (what Sluice once issued) let one forged DSN
suppress any address it listed. A transaction with several recipients keeps
the sender's own return path, so its bounces go to the sender, as they
would without Sluice. MailWizz sends one recipient per transaction.

Layout (26 bytes, then base32 in lower case without padding: 42 characters,
so ``bounces+<token>`` is 50 octets, inside RFC 5321's 64, and a receiver
that folds the case of a local part does not break it)::

    version and key id (1: 0x2 << 4 | key id) | issued_at (u32 BE)
    | tenant tag (2) | ip tag (3) | message-id tag (3) | job tag (3)
    | mac (10) = HMAC-SHA256(mac key, the 16 bytes before || tenant || recipient)[:10]

The tags are keyed hashes: the token names its tenant, IP, message and job
without carrying them. The reader resolves the tenant among the configured
tenants (the MAC decides between two sharing a tag), the IP among the
configured pools (an IP no longer configured, or two sharing a tag, leave
the IP empty: the recipient is still acted on, no IP rate is), and keeps the
report's Message-ID and campaign only when their tags match. The MAC covers
the recipient, so a token verifies only together with the address it was
issued for; 80 bits make an online forgery hopeless. A token older than
``feedback.verp_max_age`` acts on nothing.

Tokens of the earlier format (AES-SIV ``policy.tokens`` tokens of kind
``verp``, base64url, about 150 characters) still verify until they are
``verp_max_age`` old, and only for the recipient they name: one naming no
recipient (a multi-recipient transaction's) acts on nothing.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
import re
import struct
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache

from policy.tokens import BadToken, TokenKeys, verify

BOUNCE_PREFIX = "bounces+"
UNSUBSCRIBE_PREFIX = "unsubscribe+"
LOCAL_PART_MAX = 64  # RFC 5321 §4.5.3.1.1
# A VERP address anywhere in a message: the returned headers of a DSN or an ARF
# report carry the original Return-Path even when the report went elsewhere.
_IN_TEXT = re.compile(rb"bounces\+([A-Za-z0-9_-]{24,2000})@", re.IGNORECASE)
_MAX_FOUND = 20
_VERSION = 0x2
_BODY = 16
_MAC = 10
_RAW = _BODY + _MAC
TOKEN_CHARS = 42
_BASE32 = re.compile(r"[a-z2-7]{42}")
# A token issued "in the future" beyond this is not ours (clocks of two hosts may differ).
_SKEW = 86400


@dataclass(frozen=True)
class Origin:
    """The relayed message a piece of feedback is about."""

    tenant: str
    message_id: str
    recipient: str
    ip: str
    job: str = ""
    # The token it was read from: tells two messages apart when their ids are unknown.
    token: str = field(default="", compare=False)


@dataclass(frozen=True)
class _Key:
    key_id: int
    mac: bytes
    tag: bytes


@dataclass(frozen=True)
class VerpKeys:
    """VERP secrets, newest first: the first signs, every one verifies."""

    secrets: tuple[str, ...] = field(repr=False)
    legacy: TokenKeys = field(init=False, repr=False, compare=False)
    _keys: tuple[_Key, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "legacy", TokenKeys(self.secrets))
        object.__setattr__(self, "_keys", tuple(_derive(s) for s in self.secrets))


def _derive(secret: str) -> _Key:
    raw = secret.encode()
    key_id = hmac.digest(raw, b"sluice verp key id v2", "sha256")[0] & 0x0F
    mac = hmac.digest(raw, b"sluice verp mac v2", "sha256")
    tag = hmac.digest(raw, b"sluice verp tag v2", "sha256")
    return _Key(key_id, mac, tag)


@dataclass(frozen=True)
class Known:
    """What a token's tags are resolved against: the configuration of the day."""

    tenants: tuple[str, ...]
    ips: tuple[str, ...]
    max_age: float = 30 * 86400.0


@dataclass(frozen=True)
class Verifier:
    """Everything needed to read a token: the keys and what its tags may name."""

    keys: VerpKeys
    known: Known


@lru_cache(maxsize=16)
def keys_for(secrets: tuple[str, ...]) -> VerpKeys:
    """VERP keys for a configuration's secrets, derived once per secret list."""
    return VerpKeys(secrets)


def _tag(key: _Key, label: bytes, value: str, size: int) -> bytes:
    return hmac.digest(key.tag, label + value.encode(), "sha256")[:size]


def _mac(key: _Key, body: bytes, tenant: str, recipient: str) -> bytes:
    msg = body + _field(tenant) + recipient.strip().lower().encode()
    return hmac.digest(key.mac, msg, "sha256")[:_MAC]


def _field(value: str) -> bytes:
    raw = value.encode()
    return bytes((min(len(raw), 255),)) + raw


def token(keys: VerpKeys, origin: Origin, *, issued_at: int | None = None) -> str:
    """The token for one recipient of one relayed message."""
    if not origin.recipient:
        raise ValueError("a VERP token names exactly one recipient")
    key = keys._keys[0]
    when = int(time.time()) if issued_at is None else issued_at
    body = b"".join(
        (
            bytes(((_VERSION << 4) | key.key_id,)),
            struct.pack(">I", when),
            _tag(key, b"t", origin.tenant, 2),
            _tag(key, b"i", _ip(origin.ip), 3),
            _tag(key, b"m", origin.message_id.strip(), 3),
            _tag(key, b"j", origin.job.strip(), 3),
        )
    )
    raw = body + _mac(key, body, origin.tenant, origin.recipient)
    return base64.b32encode(raw).decode("ascii").rstrip("=").lower()


def address(keys: VerpKeys, origin: Origin, bounce_domain: str) -> str:
    """The VERP envelope sender for one relayed message to one recipient."""
    return f"{BOUNCE_PREFIX}{token(keys, origin)}@{bounce_domain.lower()}"


def token_of(addr: str) -> str | None:
    """The token of a ``bounces+<token>@`` address, or None."""
    local = addr.strip().strip("<>").rpartition("@")[0]
    if local[: len(BOUNCE_PREFIX)].lower() != BOUNCE_PREFIX:
        return None
    return local[len(BOUNCE_PREFIX) :] or None


def tokens_in(raw: bytes) -> list[str]:
    """Every VERP token a message quotes (distinct, in order, bounded)."""
    found: list[str] = []
    for match in _IN_TEXT.finditer(raw):
        text = match.group(1).decode("ascii")
        if text not in found:
            found.append(text)
            if len(found) >= _MAX_FOUND:
                break
    return found


def looks_like_token(text: str) -> bool:
    """Whether ``text`` has the shape of a token of either format (no key needed)."""
    return bool(_BASE32.fullmatch(text.lower())) or bool(
        re.fullmatch(r"[A-Za-z0-9_-]{35,400}", text)
    )


def origin_for(
    verifier: Verifier,
    text: str,
    recipient: str,
    *,
    now: float | None = None,
    message_id: str = "",
    job: str = "",
) -> Origin | None:
    """The origin of feedback about ``recipient`` under token ``text``, or None.

    None when the token is forged, expired, or was issued for another address:
    the caller records that as unmatched and acts on nothing.
    """
    recipient = recipient.strip().strip("<>").strip().lower()
    if not recipient or not text:
        return None
    at = time.time() if now is None else now
    if len(text) == TOKEN_CHARS and _BASE32.fullmatch(text.lower()):
        return _compact(verifier, text.lower(), recipient, at, message_id, job)
    return _legacy(verifier, text, recipient, at)


def _compact(
    verifier: Verifier, text: str, recipient: str, now: float, message_id: str, job: str
) -> Origin | None:
    try:
        raw = base64.b32decode(text.upper() + "======")
    except (binascii.Error, ValueError):
        return None
    if len(raw) != _RAW or raw[0] >> 4 != _VERSION:
        return None
    body, mac = raw[:_BODY], raw[_BODY:]
    (issued,) = struct.unpack_from(">I", body, 1)
    if not _fresh(issued, now, verifier.known.max_age):
        return None
    for key in verifier.keys._keys:
        if key.key_id != raw[0] & 0x0F:
            continue
        for tenant in verifier.known.tenants:
            if _tag(key, b"t", tenant, 2) != body[5:7]:
                continue
            if not hmac.compare_digest(_mac(key, body, tenant, recipient), mac):
                continue
            return Origin(
                tenant=tenant,
                message_id=_if_tagged(key, b"m", message_id, body[10:13]),
                recipient=recipient,
                ip=_resolve_ip(key, verifier.known.ips, body[7:10]),
                job=_if_tagged(key, b"j", job, body[13:16]),
                token=text,
            )
    return None


def _legacy(verifier: Verifier, text: str, recipient: str, now: float) -> Origin | None:
    try:
        data = verify(verifier.keys.legacy, text, "verp")
    except BadToken:
        return None
    # A token naming no recipient was a multi-recipient transaction's: it binds nobody.
    if data.recipient.strip().lower() != recipient:
        return None
    if not _fresh(data.issued_at, now, verifier.known.max_age):
        return None
    ip, _, job = (data.url or "").partition(" ")
    return Origin(data.tenant, data.message_id, recipient, ip, job, token=text)


def _fresh(issued: int, now: float, max_age: float) -> bool:
    return issued - _SKEW <= now <= issued + max_age


def _if_tagged(key: _Key, label: bytes, value: str, tag: bytes) -> str:
    value = value.strip()
    return value if value and _tag(key, label, value, len(tag)) == tag else ""


def _resolve_ip(key: _Key, ips: Iterable[str], tag: bytes) -> str:
    hits = {ip for ip in ips if _tag(key, b"i", _ip(ip), 3) == tag}
    return hits.pop() if len(hits) == 1 else ""


def _ip(value: str) -> str:
    try:
        return ipaddress.ip_address(value.strip()).compressed
    except ValueError:
        return value.strip()
