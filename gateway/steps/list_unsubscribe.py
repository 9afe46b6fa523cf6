"""List-Unsubscribe with a one-click https link (RFC 8058) and, when possible, a mailto:.

Policy per tenant (``unsubscribe.headers``): ``add`` ours when the sender
sent no List-Unsubscribe, ``replace`` the sender's (and its
List-Unsubscribe-Post) with ours, ``keep`` whatever came. Like tracking,
only a one-recipient transaction gets ours: the token names the recipient
to unsubscribe. The header is written on one line, never folded: DKIM signs
it right after, and a line under 998 octets needs no folding, so no hop has
a reason to refold it. A line that would be longer drops the Message-ID
from the token, then the mailto:.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.replies import Verdict
from policy import links, tokens, unsubscribe

if TYPE_CHECKING:
    from gateway.pipeline import Transaction

_MAX_LINE = 998
ONE_CLICK = "List-Unsubscribe=One-Click"


async def list_unsubscribe(tx: Transaction) -> Verdict | None:
    """Add or replace List-Unsubscribe and List-Unsubscribe-Post (unsubscribe.headers)."""
    assert tx.message is not None and tx.session.tenant is not None
    tenant = tx.session.tenant.settings
    config, tracking = tenant.unsubscribe, tenant.tracking
    if config is None or config.headers == "keep" or tracking is None:
        return None
    if config.headers == "add" and tx.message.get("list-unsubscribe") is not None:
        return None
    if len(tx.recipients) != 1:
        return None
    keys = links.keys_for(tracking.secrets)
    recipient = tx.recipients[0]
    base = tracking.base_url.rstrip("/")
    mailto = ""
    if config.mailto and tenant.bounce_domain:
        local = unsubscribe.local_part(keys, tenant.name, tx.job, recipient)
        mailto = f"<mailto:{local}@{tenant.bounce_domain.lower()}>"
    value = ""
    for message_id, with_mailto in ((tx.message_id, True), ("", True), ("", False)):
        ref = links.message_ref(tx.job, message_id)
        token = tokens.issue(keys, "unsubscribe", tenant.name, ref, recipient)
        value = ", ".join(filter(None, (f"<{base}/t/u/{token}>", mailto if with_mailto else "")))
        if len("List-Unsubscribe: ") + len(value) <= _MAX_LINE:
            break
    tx.message.remove("List-Unsubscribe", "List-Unsubscribe-Post")
    tx.message.append("List-Unsubscribe", value)
    tx.message.append("List-Unsubscribe-Post", ONE_CLICK)
    return None
