"""VERP return paths: which message, recipient and IP a bounce answers.

Relayed mail of a tenant with a ``bounce_domain`` leaves with the envelope
sender ``bounces+<token>@<bounce_domain>``, the token a signed, encrypted
``policy.tokens`` token of kind ``verp``. Its fields: tenant, message id and
recipient as the token module names them, and in the token's free-text
field the sending IP and, after a space, the campaign (job), so a DSN maps
back to all four without a database read and nobody can forge one that
suppresses an address.

One transaction has one envelope sender, so a token can name one recipient
only. A transaction with several recipients gets a token whose recipient is
empty: its bounces are matched by the DSN's own recipient (Final-Recipient),
still bound to the token's tenant, message and IP. MailWizz sends one
recipient per transaction, so this is the rare case.

Length: a token is about 90 characters plus the message id and recipient,
beyond RFC 5321's 64-octet local part. Common MTAs (PowerMTA, Postfix, Exim,
Exchange, Gmail) accept longer local parts, as they do for the VERP senders
of the big ESPs; a receiver that refuses one refuses it at MAIL with a 5xx
that PowerMTA accounts as a bounce, so it shows up, it is not silent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from policy.tokens import BadToken, TokenKeys, issue, verify

BOUNCE_PREFIX = "bounces+"
UNSUBSCRIBE_PREFIX = "unsubscribe+"
# A VERP address anywhere in a message: the returned headers of a DSN or an ARF
# report carry the original Return-Path even when the report went elsewhere.
_IN_TEXT = re.compile(rb"bounces\+([A-Za-z0-9_-]{24,2000})@", re.IGNORECASE)
_MAX_FOUND = 20


@dataclass(frozen=True)
class Origin:
    """The relayed message a piece of feedback is about."""

    tenant: str
    message_id: str
    recipient: str  # "" when the transaction had several recipients
    ip: str
    job: str = ""


@lru_cache(maxsize=16)
def keys_for(secrets: tuple[str, ...]) -> TokenKeys:
    """Token keys for a configuration's secrets, derived once per secret list."""
    return TokenKeys(secrets)


def address(keys: TokenKeys, origin: Origin, bounce_domain: str) -> str:
    """The VERP envelope sender for one relayed message."""
    job = "".join(origin.job.split())[:100]  # the space is the field separator
    extra = f"{origin.ip} {job}" if job else origin.ip
    token = issue(keys, "verp", origin.tenant, origin.message_id, origin.recipient, url=extra)
    return f"{BOUNCE_PREFIX}{token}@{bounce_domain.lower()}"


def read(keys: TokenKeys, addr: str) -> Origin | None:
    """The origin a VERP address names, or None when it is not a valid one of ours."""
    local = addr.strip().strip("<>").rpartition("@")[0]
    if local[: len(BOUNCE_PREFIX)].lower() != BOUNCE_PREFIX:
        return None
    return read_token(keys, local[len(BOUNCE_PREFIX) :])


def read_token(keys: TokenKeys, token: str) -> Origin | None:
    try:
        data = verify(keys, token, "verp")
    except BadToken:
        return None
    ip, _, job = (data.url or "").partition(" ")
    return Origin(data.tenant, data.message_id, data.recipient, ip, job)


def find_in(keys: TokenKeys, raw: bytes) -> list[Origin]:
    """Every valid VERP origin mentioned in a message (distinct, in order, bounded)."""
    found: list[Origin] = []
    for match in _IN_TEXT.finditer(raw):
        origin = read_token(keys, match.group(1).decode("ascii"))
        if origin is not None and origin not in found:
            found.append(origin)
            if len(found) >= _MAX_FOUND:
                break
    return found
