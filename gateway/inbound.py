"""The inbound listener: DSNs, complaints and mailto: unsubscribes for the bounce domains.

Mailbox providers send bounces to the VERP return path, complaints to the
feedback address and one-click ``mailto:`` unsubscribes to
``unsubscribe+<token>@``, all at a tenant's ``bounce_domain``; this listener
is its MX. It accepts a recipient only at a configured bounce domain (any
other gets 550 5.7.1: it is not a relay), takes no AUTH, and never answers
anything by mail, so a bounce of a bounce cannot loop through it.

Each accepted message is written to the durable inbox and fsynced before
the 250 (``policy.store.inbox``); reading it is the scheduler's job
(``scheduler.inbox``), so a parser bug or a store outage never loses one.
Any failure before that point answers 451 4.3.0 and the sender retries.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Callable
from typing import Any, AnyStr

from aiosmtpd.smtp import SMTP, Envelope
from aiosmtpd.smtp import Session as LibSession

from conf import Settings
from gateway import replies
from policy.store.inbox import Inbox

log = logging.getLogger("sluice.inbound")
MAX_RECIPIENTS = 100


def bounce_domains(settings: Settings) -> dict[str, str]:
    """Each tenant's bounce domain, lowercased, with the tenant's name."""
    return {t.bounce_domain.lower(): t.name for t in settings.tenants if t.bounce_domain}


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

    def connection_lost(self, error: Exception | None) -> None:
        self.listener.protocols.discard(self)
        super().connection_lost(error)

    async def _handle_client(self) -> None:
        if len(self.listener.protocols) > self.listener.settings().smtp.max_connections:
            await self.push(str(replies.TOO_MANY_CONNECTIONS))
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
        envelope.mail_from = address  # "<>" for the null sender: aiosmtpd needs it non-empty
        envelope.mail_options.extend(options)
        return str(replies.SENDER_OK)

    async def handle_RCPT(
        self, server: _InboundSMTP, session: LibSession, envelope: Envelope, address: str, options
    ) -> str:
        domain = address.rpartition("@")[2].strip().rstrip(".").lower()
        if domain not in bounce_domains(self.listener.settings()):
            log.info("inbound refused client=%s rcpt=<%s>", server.peer, address[:200])
            return str(replies.INBOUND_NOT_OURS)
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
