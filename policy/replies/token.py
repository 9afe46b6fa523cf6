"""The token of a reply address: ``reply+<token>@<reply_domain>``.

A local part may be at most 64 characters (RFC 5321), so the token cannot
carry the tenant, contact, scenario, step and Message-ID in clear or sealed
as the tracking tokens do (those run to 90+ characters). It carries only the
scenario message's Message-ID digest (the 32 hex characters every scenario
Message-ID starts with, ``policy.scenarios.ledger.message_id``) and a MAC:
the store's ledger names the rest (tenant, contact, scenario, step,
enrollment) by that Message-ID, so the token is a short id signed with the
tenant's tracking secrets, as unsubscribe links are.

Layout, base32 in lower case without padding (44 characters)::

    key id (1 byte) | Message-ID digest (16 bytes) | HMAC-SHA256(key, tenant | digest)[:10]

Base32 rather than base64url because some mail systems fold the case of a
local part; ten bytes of MAC (80 bits) is ample for a token a forger must
present over SMTP, one try per recipient. The tenant is in the MAC's input
and not in the token: the reply domain names it, and a tenant's key cannot
sign for another tenant's domain.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
from collections.abc import Sequence

from policy.tokens import BadToken

PREFIX = "reply+"
_MAC_LEN = 10
_DIGEST_LEN = 16
_LEN = 44  # base32 of 27 bytes, without padding
_SHAPE = re.compile(r"[a-z2-7]{44}")
_HEX32 = re.compile(r"[0-9a-f]{32}")


def _key(secret: str) -> tuple[int, bytes]:
    raw = secret.encode()
    # Labelled HMAC: the operator's secret signs nothing directly, and its id reveals nothing.
    return (
        hmac.digest(raw, b"sluice reply key id v1", "sha256")[0],
        hmac.digest(raw, b"sluice reply key v1", "sha256"),
    )


def digest_of(message_id: str) -> str | None:
    """The 32-hex digest a scenario Message-ID starts with, or None for any other."""
    head = message_id.strip().strip("<>").partition("@")[0].lower()
    return head if _HEX32.fullmatch(head) else None


def issue(secrets: Sequence[str], tenant: str, message_id: str) -> str:
    """The token for a scenario message; signed with the newest secret."""
    digest = digest_of(message_id)
    if digest is None:
        raise ValueError("not a scenario Message-ID")
    key_id, key = _key(secrets[0])
    body = bytes((key_id,)) + bytes.fromhex(digest)
    mac = hmac.digest(key, tenant.encode() + b"|" + body[1:], "sha256")[:_MAC_LEN]
    return base64.b32encode(body + mac).decode("ascii").rstrip("=").lower()


def address(secrets: Sequence[str], tenant: str, message_id: str, domain: str) -> str:
    return f"{PREFIX}{issue(secrets, tenant, message_id)}@{domain}"


def looks_like(local: str) -> bool:
    """Whether a local part has the reply form (its signature is checked by ``verify``)."""
    lower = local.lower()
    return lower.startswith(PREFIX) and bool(_SHAPE.fullmatch(lower[len(PREFIX) :]))


def verify(secrets: Sequence[str], tenant: str, local_or_token: str) -> str:
    """The Message-ID digest a token names, if one of the tenant's secrets signed it."""
    text = local_or_token.lower().removeprefix(PREFIX)
    if not _SHAPE.fullmatch(text):
        raise BadToken("not a reply token")
    try:
        raw = base64.b32decode(text.upper() + "=" * 4)
    except (binascii.Error, ValueError) as exc:
        raise BadToken("not a reply token") from exc
    body, mac = raw[: 1 + _DIGEST_LEN], raw[1 + _DIGEST_LEN :]
    for secret in secrets:
        key_id, key = _key(secret)
        if key_id != body[0]:
            continue
        expected = hmac.digest(key, tenant.encode() + b"|" + body[1:], "sha256")[:_MAC_LEN]
        if hmac.compare_digest(expected, mac):
            return body[1:].hex()
    raise BadToken("reply token does not verify")
