"""A stand-in PowerMTA: an SMTP server on loopback that records what it accepts.

Faults are chosen per recipient by magic local parts (``tempfail-rcpt``,
``permfail-rcpt``, ``tempfail-data``, ``permfail-data``, ``slow-mail``,
``slow-data``, ``drop-data``) or for the next transactions by counters
(``drop_next_data``, ``tempfail_next_data``), so a test can fail a first
attempt and watch the retry succeed.
"""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass, field

from aiosmtpd.smtp import SMTP, Envelope, Session


@dataclass
class Received:
    mail_from: str
    recipients: list[str]
    data: bytes
    mail_options: list[str]


@dataclass
class Sink:
    delay: float = 3.0
    messages: list[Received] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    connections: int = 0
    drop_next_data: int = 0
    tempfail_next_data: int = 0
    server: asyncio.Server | None = None
    port: int = 0
    smtputf8: bool = True  # whether its EHLO offers SMTPUTF8 (PowerMTA's may not)
    # A stopped sink keeps its port bound but not listening: a connection is refused
    # (PowerMTA down), and no listener started meanwhile (the gateway under test asks
    # for port 0) can be handed the port and answer in PowerMTA's place.
    _held: socket.socket | None = None

    async def start(self, port: int = 0) -> Sink:
        loop = asyncio.get_running_loop()
        held, self._held = self._held, None
        if held is not None and port == held.getsockname()[1]:
            held.listen(100)
            self.server = await loop.create_server(self._factory, sock=held)
        else:
            if held is not None:
                held.close()
            self.server = await loop.create_server(self._factory, "127.0.0.1", port)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def stop(self, hold: bool = True) -> None:
        if self.server is not None:
            self.server.close()
            if hasattr(self.server, "close_clients"):
                self.server.close_clients()
            for proto in list(_OPEN.get(id(self), ())):
                if proto.transport is not None:
                    proto.transport.close()
            self.server = None
            if hold:
                self._held = _bound(self.port)
        elif not hold and self._held is not None:
            self._held.close()
            self._held = None

    def _factory(self) -> SMTP:
        self.connections += 1
        proto = _SinkSMTP(
            _Handler(self),
            hostname="sink.test",
            enable_SMTPUTF8=self.smtputf8,
            data_size_limit=None,
            timeout=60,
        )
        _OPEN.setdefault(id(self), set()).add(proto)
        return proto

    def by_recipient(self, address: str) -> list[Received]:
        return [m for m in self.messages if address in m.recipients]


_OPEN: dict[int, set] = {}


def _bound(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # SO_REUSEADDR to bind past the closed sessions' TIME_WAIT; the kernel still
    # never picks a port bound this way for another socket's port 0.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setblocking(False)
    sock.bind(("127.0.0.1", port))
    return sock


class _SinkSMTP(SMTP):
    pass


class _Handler:
    def __init__(self, sink: Sink):
        self.sink = sink

    async def handle_MAIL(self, server, session: Session, envelope: Envelope, address, options):
        self.sink.commands.append(f"MAIL {address}")
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 2.1.0 OK"

    async def handle_RCPT(self, server, session, envelope: Envelope, address, options):
        self.sink.commands.append(f"RCPT {address}")
        local = address.partition("@")[0]
        if local.startswith("slow-mail"):
            await asyncio.sleep(self.sink.delay)
        if local.startswith("tempfail-rcpt"):
            return "451 4.2.0 Try later"
        if local.startswith("permfail-rcpt"):
            return "550 5.1.1 No such user"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope: Envelope):
        self.sink.commands.append("DATA")
        locals_ = [r.partition("@")[0] for r in envelope.rcpt_tos]
        if self.sink.drop_next_data > 0 or any(x.startswith("drop-data") for x in locals_):
            self.sink.drop_next_data = max(0, self.sink.drop_next_data - 1)
            server.transport.abort()
            return "421 4.3.0 gone"
        if self.sink.tempfail_next_data > 0:
            self.sink.tempfail_next_data -= 1
            return "451 4.3.0 Try again"
        if any(x.startswith("slow-data") for x in locals_):
            await asyncio.sleep(self.sink.delay)
        if any(x.startswith("tempfail-data") for x in locals_):
            return "451 4.3.0 Try again"
        if any(x.startswith("permfail-data") for x in locals_):
            return "554-5.7.1 Content refused\r\n554 5.7.1 second line of the reply"
        self.sink.messages.append(
            Received(
                envelope.mail_from,
                list(envelope.rcpt_tos),
                envelope.original_content,
                list(envelope.mail_options),
            )
        )
        return "250 2.0.0 queued as X"
