"""Click and open tracking: links go through the public listener, an open pixel is added.

Only a transaction with one recipient is tracked. A token names one
recipient, and one body goes to every recipient of a transaction, so a
tracked multi-recipient message would credit (or unsubscribe) the first
recipient for what the others do. MailWizz and Sluice's scheduler send one
recipient per transaction; the rare other case leaves untracked.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from gateway.replies import Verdict
from gateway.steps import offload
from gateway.tracking import TrackingPlan, rewrite
from policy import links, tokens

if TYPE_CHECKING:
    from gateway.pipeline import Transaction

log = logging.getLogger("sluice.tracking")


async def tracking(tx: Transaction) -> Verdict | None:
    """Rewrite HTML links to <base_url>/t/c/ and add the open pixel (tenant's tracking block)."""
    assert tx.message is not None and tx.session.tenant is not None
    tenant = tx.session.tenant.settings
    config = tenant.tracking
    if config is None or not (config.opens or config.clicks) or len(tx.recipients) != 1:
        return None
    keys = links.keys_for(config.secrets)
    name, recipient = tenant.name, tx.recipients[0]
    ref = links.message_ref(tx.job, tx.message_id)
    now = int(time.time())

    def make_token(kind: str, index: int, url: str | None) -> str:
        return tokens.issue(keys, kind, name, ref, recipient, index, url, issued_at=now)

    head = tx.message.header_bytes() + b"\r\n"
    plan = TrackingPlan(
        base_url=config.base_url,
        make_token=make_token,
        opens=config.opens,
        clicks=config.clicks,
        exclude=config.exclude,
        skip_if_tracked=config.skip_if_tracked,
        rewrite_text=config.rewrite_text,
    )
    try:
        message = head + tx.message.body
        changed = await offload.run(len(message), rewrite, message, plan)
    except Exception:
        # Tracking is not custody: a message that cannot be tracked still goes out.
        log.exception("tracking rewrite failed tx=%s; relayed untracked", tx.id)
        return None
    # The rewrite splices bodies only; the header section comes back as it went in.
    if changed is not None and changed.startswith(head):
        tx.message.body = changed[len(head) :]
    return None
