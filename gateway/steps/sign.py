"""DKIM, last of all changes to the message, or it would not verify."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway import dkim
from gateway.replies import Verdict
from gateway.steps import offload

if TYPE_CHECKING:
    from gateway.pipeline import Transaction


async def dkim_sign(tx: Transaction) -> Verdict | None:
    """Sign with every key of the tenant for the From domain (RSA and Ed25519 side by side)."""
    assert tx.message is not None and tx.session.tenant is not None
    keys = tx.rt.dkim_keys(tx.session.tenant.name, tx.from_domain)
    body = tx.message.to_bytes()
    if keys:
        signatures = await offload.run(len(body), dkim.sign, body, keys)
        tx.data = signatures + body
    else:
        tx.data = body
    return None
