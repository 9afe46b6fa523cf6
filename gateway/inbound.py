"""The inbound listener: DSNs, complaints and mailto: unsubscribes for the bounce domains.

Mailbox providers send bounces to the VERP return path, complaints to the
feedback address and one-click ``mailto:`` unsubscribes to
``unsubscribe+<token>@``, all at a tenant's ``bounce_domain``; this listener
is its MX. It accepts a recipient only at a configured bounce domain (any
other gets 550 5.7.1: it is not a relay), and there only the forms Sluice
issues: ``bounces+<token>``, ``unsubscribe+<token>`` (the token's shape is
checked here, its signature by the processor) and the plain mailboxes of
``feedback.inbound_mailboxes`` (postmaster, abuse, the FBL address); any
other gets 550 5.1.1. At a tenant's ``reply_domain`` it accepts only
``reply+<token>`` whose token the tenant's tracking secrets signed (replies to
scenario mail, ``policy.replies.token``); a bad token gets 550 5.1.1. It
takes no AUTH, and never answers anything by mail, so a bounce of a bounce cannot loop through it.

Anyone may connect, so each client address is bounded: open connections
(``feedback.inbound_max_connections_per_client``, 421 above), messages per
minute (``feedback.inbound_messages_per_minute``, 450 at MAIL above) and
message size (``feedback.max_message_size``, 552 above, sized for bounces).

Each accepted message is written to the durable inbox and fsynced before
the 250 (``policy.store.inbox``); reading it is the scheduler's job
(``scheduler.inbox``), so a parser bug or a store outage never loses one.
Any failure before that point answers 451 4.3.0 and the sender retries.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import re
import ssl
import time
from collections.abc import Callable
from typing import Any, AnyStr

from aiosmtpd.smtp import SMTP, Envelope
from aiosmtpd.smtp import Session as LibSession

from conf import Settings
from gateway import replies
from policy.feedback import verp
from policy.replies import token as reply_token
from policy.store.inbox import Inbox
from policy.tokens import BadToken

log = logging.getLogger("sluice.inbound")
MAX_RECIPIENTS = 100
RATE_WINDOW = 60.0
_UNSUBSCRIBE_TOKEN = re.compile(r"[A-Za-z0-9_-]{24,400}")


def bounce_domains(settings: Settings) -> dict[str, str]:
    """Each tenant's bounce domain, lowercased, with the tenant's name."""
    return {t.bounce_domain.lower(): t.name for t in settings.tenants if t.bounce_domain}


def reply_domains(settings: Settings) -> dict[str, tuple[str, tuple[str, ...]]]:
    """Each tenant's reply domain, lowercased: the tenant and the secrets that sign its tokens."""
    if not settings.replies.enabled:
        return {}
    return {
        t.reply_domain.lower().rstrip("."): (t.name, t.tracking.secrets)
        for t in settings.tenants
        if t.reply_domain and t.tracking is not None
    }


def reply_address_ok(address: str, tenant: str, secrets: tuple[str, ...]) -> bool:
    """Whether a recipient is a reply address whose token this tenant signed."""
    local = address.strip().strip("<>").rpartition("@")[0]
    try:
        reply_token.verify(secrets, tenant, local)
    except BadToken:
        return False
    return True


def issued_form(address: str, mailboxes: tuple[str, ...]) -> bool:
    """Whether a recipient has a form Sluice hands out (tokens by shape only)."""
    local = address.strip().strip("<>").rpartition("@")[0]
    lower = local.lower()
    if lower.startswith(verp.BOUNCE_PREFIX):
        return verp.looks_like_token(local[len(verp.BOUNCE_PREFIX) :])
    if lower.startswith(verp.UNSUBSCRIBE_PREFIX):
        return bool(_UNSUBSCRIBE_TOKEN.fullmatch(local[len(verp.UNSUBSCRIBE_PREFIX) :]))
    return lower in {m.lower() for m in mailboxes}


class InboundListener:
    def __init__(
        self,
        settings: Callable[[], Settings],
        inbox: Inbox,
        tls: ssl.SSLContext | None = None,
    ):
        self.settings = settings  # called per connection, so a reload changes the domains
        self.inbox = inbox
        self.tls = tls
        self.protocols: set[_InboundSMTP] = set()
        self.server: asyncio.Server | None = None
        self.accepted = 0
        self.per_client: collections.Counter[str] = collections.Counter()
        # Per client address, when its recent messages began (bounded by the rate).
        self.recent: dict[str, collections.deque[float]] = {}

    def may_send(self, peer: str, now: float) -> bool:
        """Whether ``peer`` is under its messages-per-minute; counts this one if so."""
        limit = self.settings().feedback.inbound_messages_per_minute
        times = self.recent.setdefault(peer, collections.deque())
        while times and times[0] <= now - RATE_WINDOW:
            times.popleft()
        if len(times) >= limit:
            return False
        times.append(now)
        if len(self.recent) > 10_000:  # forget idle clients, so the map stays bounded
            for key in [k for k, v in self.recent.items() if not v or v[-1] <= now - RATE_WINDOW]:
                del self.recent[key]
        return True

    def factory(self) -> SMTP:
        s = self.settings()
        return _InboundSMTP(
            _Handler(self),
            listener=self,
            data_size_limit=s.feedback.max_message_size,
            enable_SMTPUTF8=True,
            hostname=s.smtp.hostname,
            ident="Sluice",
            tls_context=self.tls,
            timeout=s.smtp.timeout,
        )

    async def start(self, host: str, port: int) -> asyncio.Server:
        await asyncio.to_thread(self.inbox.ensure)
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(self.factory, host, port)
        return self.server

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
        for proto in list(self.protocols):
            if proto.transport is not None:
                proto.transport.close()


class _InboundSMTP(SMTP):
    def __init__(self, handler: _Handler, *, listener: InboundListener, **kwargs: Any):
        super().__init__(handler, **kwargs)
        self.listener = listener
        self.peer = ""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        first = self.transport is None
        super().connection_made(transport)
        if first:
            peer = transport.get_extra_info("peername") or ("", 0)
            self.peer = str(peer[0])
            self.listener.protocols.add(self)
            self.listener.per_client[self.peer] += 1

    def connection_lost(self, error: Exception | None) -> None:
        if self in self.listener.protocols:
            self.listener.protocols.discard(self)
            self.listener.per_client[self.peer] -= 1
            if self.listener.per_client[self.peer] <= 0:
                del self.listener.per_client[self.peer]
        super().connection_lost(error)

    async def _handle_client(self) -> None:
        s = self.listener.settings()
        refusal = None
        if len(self.listener.protocols) > s.smtp.max_connections:
            refusal = replies.TOO_MANY_CONNECTIONS
        elif self.listener.per_client[self.peer] > s.feedback.inbound_max_connections_per_client:
            refusal = replies.TOO_MANY_FROM_CLIENT
        if refusal is not None:
            await self.push(str(refusal))
            if self.transport is not None:
                self.transport.close()
            return
        await super()._handle_client()

    async def push(self, status: AnyStr) -> None:
        status = replies.ours(status)
        await super().push(status)


class _Handler:
    def __init__(self, listener: InboundListener):
        self.listener = listener

    async def handle_MAIL(
        self, server: _InboundSMTP, session: LibSession, envelope: Envelope, address: str, options
    ) -> str:
        # DSNs come from the null sender; anything else may be a complaint or a reply.
        if not self.listener.may_send(server.peer, time.monotonic()):
            log.info("inbound slowed client=%s", server.peer)
            return str(replies.INBOUND_SLOW_DOWN)
        envelope.mail_from = address  # "<>" for the null sender: aiosmtpd needs it non-empty
        envelope.mail_options.extend(options)
        return str(replies.SENDER_OK)

    async def handle_RCPT(
        self, server: _InboundSMTP, session: LibSession, envelope: Envelope, address: str, options
    ) -> str:
        domain = address.rpartition("@")[2].strip().rstrip(".").lower()
        settings = self.listener.settings()
        replying = reply_domains(settings).get(domain)
        if replying is not None:
            if not reply_address_ok(address, *replying):
                log.info("inbound bad reply token client=%s rcpt=<%s>", server.peer, address[:200])
                return str(replies.INBOUND_NO_SUCH_USER)
        elif domain not in bounce_domains(settings):
            log.info("inbound refused client=%s rcpt=<%s>", server.peer, address[:200])
            return str(replies.INBOUND_NOT_OURS)
        elif not issued_form(address, settings.feedback.inbound_mailboxes):
            log.info("inbound no such user client=%s rcpt=<%s>", server.peer, address[:200])
            return str(replies.INBOUND_NO_SUCH_USER)
        if len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            return str(replies.INBOUND_TOO_MANY_RECIPIENTS)
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return str(replies.RECIPIENT_OK)

    async def handle_DATA(
        self, server: _InboundSMTP, session: LibSession, envelope: Envelope
    ) -> str:
        data = envelope.original_content or b""
        head: dict[str, Any] = {
            "mail_from": "" if envelope.mail_from in (None, "<>") else envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "client": server.peer,
            "helo": session.host_name or "",
            "received_at": time.time(),
        }
        # Shielded: once the client sent ".", the write completes even if it hangs up,
        # so a message is never half in the inbox (the rename is atomic anyway).
        try:
            path = await asyncio.shield(asyncio.to_thread(self.listener.inbox.write, head, data))
        except OSError as exc:  # disk full, folder gone: the sender keeps it and retries
            log.error("inbound could not store a message client=%s: %s", server.peer, exc)
            return str(replies.INTERNAL_ERROR)
        self.listener.accepted += 1
        log.info(
            "inbound stored client=%s from=<%s> rcpts=%d size=%d file=%s",
            server.peer,
            head["mail_from"][:200],
            len(head["rcpt_tos"]),
            len(data),
            path.name,
        )
        return str(replies.INBOUND_STORED)

    async def handle_exception(self, error: Exception) -> str:
        log.error("inbound session error: %r", error, exc_info=error)
        return str(replies.INTERNAL_ERROR)
