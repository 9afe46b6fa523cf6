"""Who may talk to us: connection limits, draining, and no open relay."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway import replies
from gateway.replies import Verdict

if TYPE_CHECKING:
    from gateway.pipeline import Transaction


async def connect_draining(tx: Transaction) -> Verdict | None:
    """Refuse new connections with 421 while shutting down."""
    return replies.SHUTTING_DOWN if tx.session.listener.draining else None


async def connect_limits(tx: Transaction) -> Verdict | None:
    """421 4.7.0 over the total or per-client connection limit."""
    smtp = tx.rt.settings.smtp
    listener = tx.session.listener
    if listener.open_connections > smtp.max_connections:
        return replies.TOO_MANY_CONNECTIONS
    if listener.connections_from(tx.session.peer) > smtp.max_connections_per_client:
        return replies.TOO_MANY_FROM_CLIENT
    return None


async def connect_trusted_network(tx: Transaction) -> Verdict | None:
    """A client in a tenant's trusted networks is that tenant without AUTH."""
    tx.session.tenant = tx.rt.directory.by_network(tx.session.peer)
    return None


async def mail_draining(tx: Transaction) -> Verdict | None:
    """No new transaction once shutdown has begun."""
    return replies.SHUTTING_DOWN if tx.session.listener.draining else None


async def require_tenant(tx: Transaction) -> Verdict | None:
    """No open relay: without AUTH or a trusted network, 530 5.7.0."""
    return None if tx.session.tenant is not None else replies.AUTH_REQUIRED
