"""What an attacker does to a token: alter it, cut it, or splice another recipient into it.

AES-SIV encrypts with CTR, so whoever knows the plaintext layout (it is in
``policy.tokens``) can flip ciphertext bits to turn one recipient's address
into another of the same length. Only the synthetic IV, which is the MAC,
stops that; these helpers build exactly such tokens for the tests.
"""

from __future__ import annotations

import base64

_HEADER = 2 + 16  # version, key id, SIV tag


def _raw(token: str) -> bytearray:
    return bytearray(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))


def _text(raw: bytes) -> str:
    return base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()


def flipped(token: str, at: int = -1) -> str:
    """The token with one character replaced by another base64url character."""
    index = at % len(token)
    swap = "A" if token[index] != "A" else "B"
    return token[:index] + swap + token[index + 1 :]


def truncated(token: str, keep: int = 40) -> str:
    return token[:keep]


def recipient_swapped(token: str, tenant: str, message_ref: str, old: str, new: str) -> str:
    """The token with its recipient changed from ``old`` to ``new`` under the encryption.

    For tokens with a link index below 128 and fields shorter than 128 bytes
    (one-byte varints), as in the tests.
    """
    if len(old) != len(new):
        raise ValueError("a same-length swap needs addresses of the same length")
    offset = 4 + 1 + (1 + len(tenant.encode())) + (1 + len(message_ref.encode())) + 1
    raw = _raw(token)
    start = _HEADER + offset
    for i, (a, b) in enumerate(zip(old.encode(), new.encode(), strict=True)):
        raw[start + i] ^= a ^ b
    return _text(raw)
