"""Addresses (sender and recipients) and how many recipients one transaction may carry.

An address is checked at MAIL and RCPT, before anything is promised: what
PowerMTA (or a receiving MTA) would choke on must not get a 250 and then a
451 after DATA forever. Refused (553 5.1.3 for a recipient, 5.1.7 for the
sender): control characters (NUL, bare CR or LF), a local part over 64
octets (RFC 5321 §4.5.3.1.1), the ``%`` hack and bang paths (relaying by
the address's own routing), source routes (``@a,@b:user@c``) and address
literals (``user@[192.0.2.1]``). A non-ASCII address needs the client's
``SMTPUTF8`` on MAIL and a next hop that offers SMTPUTF8 (553 5.6.7
otherwise, RFC 6531 §3.5); whether PowerMTA offers it is learnt from its
EHLO (``gateway.downstream``); before the first connection it is assumed,
and a next hop that turns out not to offer it refuses the message then.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from gateway import replies
from gateway.replies import Verdict

if TYPE_CHECKING:
    from gateway.pipeline import Transaction

# aiosmtpd hands over whatever sat between the brackets; a control character or
# whitespace there is an injection attempt, not an address (RFC 5321 §4.1.2).
ADDRESS = re.compile(
    r"^[^\x00-\x20\x7f<>()\[\]\\,;:@\"]+(?:\.[^\x00-\x20\x7f<>()\[\]\\,;:@\"]+)*@[^\x00-\x20\x7f@<>]+$"
)
LOCAL_PART_MAX = 64
# Routing by the address itself: a relay must not honour it, so it refuses it.
_ROUTED = re.compile(r"[%!]")
_DOMAIN = re.compile(r"^[^\x00-\x20\x7f@<>\[\]()\\,;:\"]+$")


def syntax_ok(address: str) -> bool:
    """Whether ``address`` is a plain ``local@domain`` a relay may pass on."""
    if not ADDRESS.match(address):  # controls, spaces, source routes, quoting, no domain
        return False
    local, _, domain = address.rpartition("@")
    if len(local.encode("utf-8", "surrogateescape")) > LOCAL_PART_MAX:
        return False
    return not _ROUTED.search(local) and bool(_DOMAIN.match(domain))


def utf8_verdict(tx: Transaction, address: str) -> Verdict | None:
    """553 5.6.7 for a non-ASCII address the client or the next hop cannot carry."""
    if address.isascii():
        return None
    if "SMTPUTF8" not in {o.upper() for o in tx.mail_options}:
        return replies.UTF8_NEEDS_SMTPUTF8
    if getattr(tx.rt.downstream, "offers_smtputf8", None) is False:
        return replies.UTF8_NOT_RELAYED
    return None


async def recipient_address(tx: Transaction) -> Verdict | None:
    """553 5.1.3 for a malformed recipient, 553 5.6.7 for UTF-8 that cannot go on."""
    if not syntax_ok(tx.candidate):
        return replies.BAD_ADDRESS
    return utf8_verdict(tx, tx.candidate)


async def sender_address(tx: Transaction) -> Verdict | None:
    """553 5.1.7 for a malformed sender, 553 5.6.7 for UTF-8 that cannot go on."""
    if not tx.mail_from:
        return None  # the null sender: envelope_sender_domain decides
    if not syntax_ok(tx.mail_from):
        return replies.BAD_SENDER_ADDRESS
    return utf8_verdict(tx, tx.mail_from)


async def recipient_limit(tx: Transaction) -> Verdict | None:
    """452 4.5.3 past smtp.max_recipients; the rest come in a new transaction."""
    over = len(tx.recipients) >= tx.rt.settings.smtp.max_recipients
    return replies.TOO_MANY_RECIPIENTS if over else None
