"""scrypt password hashes for SMTP AUTH credentials: ``scrypt$N$r$p$salt$hash``."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

N, R, P = 2**14, 8, 1


def hash_password(password: str, *, n: int = N, r: int = R, p: int = P) -> str:
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=32)
    return "$".join(
        [
            "scrypt",
            str(n),
            str(r),
            str(p),
            base64.b64encode(salt).decode(),
            base64.b64encode(digest).decode(),
        ]
    )


def verify_password(password: str | bytes, encoded: str) -> bool:
    """True when ``password`` matches; False for a mismatch or a malformed hash."""
    try:
        scheme, n, r, p, salt, digest = encoded.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        raw = password if isinstance(password, bytes) else password.encode()
        actual = hashlib.scrypt(
            raw, salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p), dklen=len(expected)
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


def decoy(like: str | None) -> str:
    """A hash no password matches, as costly to check as ``like`` (scrypt's defaults
    when None): an unknown user is checked against it, so the time of a refusal does
    not tell a known user from an unknown one."""
    try:
        scheme, n, r, p, _, _ = (like or "").split("$")
        cost = (int(n), int(r), int(p)) if scheme == "scrypt" else (N, R, P)
    except ValueError:
        cost = (N, R, P)
    zeros = base64.b64encode(bytes(16)).decode(), base64.b64encode(bytes(32)).decode()
    return "$".join(["scrypt", *map(str, cost), *zeros])
