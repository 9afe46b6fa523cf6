"""DKIM, last of all changes to the message, or it would not verify."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from gateway import dkim
from gateway.replies import Verdict
from gateway.steps import offload

if TYPE_CHECKING:
    from gateway.pipeline import Transaction

log = logging.getLogger("sluice.dkim")


async def dkim_sign(tx: Transaction) -> Verdict | None:
    """Sign with every key of the tenant for the From domain (RSA and Ed25519 side by side)."""
    assert tx.message is not None and tx.session.tenant is not None
    keys = _keys(tx)
    body = tx.message.to_bytes()
    if keys:
        signatures = await offload.run(len(body), dkim.sign, body, keys)
        tx.data = signatures + body
    else:
        tx.data = body
    return None


def _keys(tx: Transaction) -> list[dkim.DkimKey]:
    assert tx.session.tenant is not None
    try:
        return tx.rt.dkim_keys(tx.session.tenant.name, tx.from_domain)
    except dkim.DkimKeyError as exc:
        # Only a wildcard key ("*", the embedded default's) meets a From domain
        # no configuration check has seen. One that is no DNS name (a bare host
        # name such as swaks's default user@vm) can carry no signature at all:
        # the message goes unsigned, as a 451 would have it retried forever.
        log.warning("tx=%s sending unsigned: %s", tx.id, exc)
        return []
