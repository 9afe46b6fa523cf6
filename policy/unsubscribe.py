"""The mailto: unsubscribe address: ``unsubscribe+<token>@<bounce domain>``.

The token is an ``unsubscribe`` token naming the tenant, the campaign and
the recipient, but not the Message-ID: the local part should stay short.
It is still longer than the 64 octets RFC 5321 allows a local part for most
addresses (about 80 characters for a 20-character address); Postfix,
PowerMTA and the large mailbox providers accept that, and the one-click
https link, which mailbox providers prefer, has no such limit. Base64url is
case-sensitive, so an inbound path that lower-cases local parts breaks it.

``read_local_part`` is what the inbound listener calls for a message to
``unsubscribe+...@<bounce domain>``: it gives (tenant, address) or raises
``BadToken``. The address to unsubscribe is the token's, never the sender
of the unsubscribe message: forwarding and aliases make those differ, and a
stranger who learnt the address must not unsubscribe someone else with it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from policy.links import message_ref, verify_for
from policy.tokens import BadToken, TokenData, TokenKeys, issue

PREFIX = "unsubscribe+"
# The mailto token's link index tells it apart from the https one in events.
MAILTO_INDEX = 1


def local_part(keys: TokenKeys, tenant: str, job: str, recipient: str) -> str:
    """``unsubscribe+<token>`` for one recipient of one campaign."""
    token = issue(keys, "unsubscribe", tenant, message_ref(job, ""), recipient, MAILTO_INDEX)
    return PREFIX + token


def read_local_part(local: str, keys: Mapping[str, TokenKeys]) -> tuple[str, str]:
    """(tenant, address) of an ``unsubscribe+<token>`` local part; BadToken if it is not one.

    ``keys`` are the token keys by tenant (``policy.links.tenant_keys``).
    """
    data = read_token(local, keys)
    return data.tenant, data.recipient


def read_token(
    local: str,
    keys: Mapping[str, TokenKeys],
    *,
    max_age: float | None = None,
    now: float | None = None,
) -> TokenData:
    """All the token of an ``unsubscribe+<token>`` local part says (campaign, sent at too).

    With ``max_age``, a token issued longer ago than that is ``BadToken`` too.
    """
    if local[: len(PREFIX)].lower() != PREFIX:
        raise BadToken("not an unsubscribe address")
    data = verify_for(keys, local[len(PREFIX) :], "unsubscribe")
    if not data.recipient:
        raise BadToken("the token names no recipient")
    if max_age is not None and (time.time() if now is None else now) > data.issued_at + max_age:
        raise BadToken("the token has expired")
    return data
