"""The SMTP listener: aiosmtpd, with each SMTP command handed to the pipeline.

aiosmtpd speaks the protocol; this module adapts it to Sluice's rules:
hooks that record the envelope only on acceptance (aiosmtpd does it only
for hooks that are not implemented), a ``451 4.3.0`` for any exception
(aiosmtpd's default is a permanent 500 that leaks the error), a DATA
handler shielded from the client's disconnect once the message is complete,
enhanced status codes on the library's own replies, and connection limits,
AUTH lockout and graceful draining.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import inspect
import ipaddress
import logging
import secrets
import ssl
import time
from collections.abc import Callable
from typing import Any, AnyStr

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword
from aiosmtpd.smtp import Session as LibSession

from conf import Settings
from gateway import metrics, pipeline, replies
from gateway.pipeline import Session, Transaction
from gateway.runtime import Runtime
from gateway.smtp_limits import SessionLimits
from gateway.steps import quota

log = logging.getLogger("sluice.smtp")


class Listener:
    """Shared state of every connection: counts, AUTH failures, draining."""

    def __init__(self, runtime: Callable[[], Runtime], tls: ssl.SSLContext | None = None):
        self.runtime = runtime
        self.tls = tls
        self.per_client: collections.Counter[str] = collections.Counter()
        self.protocols: set[SluiceSMTP] = set()
        self.auth_failures: dict[str, collections.deque[float]] = {}
        self.draining = False
        self.servers: list[asyncio.Server] = []
        # DATA phases still running, shielded from their client's hang-up.
        self.relays: set[asyncio.Future[Any]] = set()

    @property
    def open_connections(self) -> int:
        return len(self.protocols)

    def connections_from(self, peer: str) -> int:
        return self.per_client[peer]

    @property
    def in_transaction(self) -> int:
        return sum(1 for p in self.protocols if p.tx is not None)

    def locked_out(self, peer: str) -> bool:
        smtp = self.runtime().settings.smtp
        failures = self.auth_failures.get(peer)
        if not failures:
            return False
        while failures and failures[0] < time.monotonic() - smtp.auth_lockout:
            failures.popleft()
        return len(failures) >= smtp.auth_failure_limit

    def auth_failed(self, peer: str) -> None:
        metrics.AUTH_FAILURES.inc()
        self.auth_failures.setdefault(peer, collections.deque(maxlen=1000)).append(time.monotonic())

    def factory(self) -> SluiceSMTP:
        settings = self.runtime().settings
        return SluiceSMTP(
            Handler(),
            listener=self,
            data_size_limit=settings.smtp.max_message_size,
            enable_SMTPUTF8=True,
            hostname=settings.smtp.hostname,
            ident="Sluice",
            tls_context=self.tls,
            # aiosmtpd does not re-arm its idle timer during DATA: the client's
            # upload and our whole relay must fit inside it.
            timeout=settings.smtp.timeout + settings.downstream.timeout,
            authenticator=self.authenticate,
            auth_require_tls=True,
        )

    async def authenticate(
        self, server: SluiceSMTP, session: LibSession, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        """The credentials' tenant; awaited by ``SluiceSMTP``'s AUTH mechanisms."""
        if not isinstance(data, LoginPassword):
            return AuthResult(success=False, handled=False)
        username = data.login.decode("utf-8", "replace")
        directory = self.runtime().directory
        # scrypt is ~50 ms of CPU by design: off the loop, on a pool of its own so
        # a burst of failed logins cannot queue ahead of spool and outbox writes.
        tenant = await asyncio.get_running_loop().run_in_executor(
            _password_checks(), directory.authenticate, username, data.password
        )
        if tenant is None:
            self.auth_failed(server.sluice.peer)
            log.info(
                "auth failed session=%s client=%s user=%r",
                server.sluice.id,
                server.sluice.peer,
                username[:64],
            )
            return AuthResult(success=False, handled=False)
        server.sluice.tenant = tenant
        server.sluice.username = username
        server.authenticated()
        return AuthResult(success=True, auth_data=username)

    async def start(self, host: str, port: int, *, reuse_port: bool = False) -> asyncio.Server:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(self.factory, host, port, reuse_port=reuse_port or None)
        self.servers.append(server)
        return server

    async def drain(self, timeout: float) -> bool:
        """Refuse new work, let transactions finish, then close. True if all finished."""
        self.draining = True
        for proto in list(self.protocols):
            if proto.tx is None:
                proto.say_goodbye()
        deadline = time.monotonic() + timeout
        # Transactions end in several places (DATA, RSET, hang-up); polling the count
        # is simpler than signalling from each, and drain happens once per process.
        while self.in_transaction and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        finished = self.in_transaction == 0
        for server in self.servers:
            server.close()
        for proto in list(self.protocols):
            if proto.transport is not None:
                proto.transport.close()
        await self._stop_relays()
        return finished

    async def _stop_relays(self) -> None:
        """Cancel the relays still running, and let their done steps settle and record.

        A relay stopped after its final dot answers ``possible_duplicate`` and
        keeps its quota (``gateway.downstream``); the store and counters close
        after this, so the outcome is recorded rather than lost with the loop.
        """
        pending = [task for task in self.relays if not task.done()]
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=10)


class _LibSession(LibSession):
    """aiosmtpd's session without its legacy ``login_data`` property.

    aiosmtpd sets ``login_data`` itself after every successful AUTH, even with
    the ``authenticator`` API used here, and its property logs a deprecation
    warning each time. The tenant is read from ``auth_data`` (and our session);
    a plain attribute here keeps the assignment and drops the warning.
    """

    login_data: Any = None


class SluiceSMTP(SessionLimits, SMTP):
    def _create_session(self) -> LibSession:
        return _LibSession(self.loop)

    def __init__(self, handler: Handler, *, listener: Listener, **kwargs: Any):
        super().__init__(handler, **kwargs)
        # aiosmtpd keeps this dict on the class, so every EHLO of every connection
        # would grow one shared MAIL limit; each connection gets its own.
        self.command_size_limits = collections.defaultdict(lambda: self.command_size_limit)
        self.listener = listener
        self.sluice = Session(id="", peer="", port=0, listener=listener)
        self.tx: Transaction | None = None

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        # aiosmtpd drops a source route (<@a,@b:user@c>) silently; keep it, so the
        # address steps refuse it (gateway.steps.routing) instead of relaying past it.
        text = arg.lstrip()
        if text.startswith("<@") and ">" in text:
            path, _, rest = text[1:].partition(">")
            return path, rest
        return super()._getaddr(arg)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        first = self.transport is None
        super().connection_made(transport)
        if not first:  # STARTTLS: the same client, now encrypted
            self.sluice.tls = True
            return
        peer = transport.get_extra_info("peername") or ("", 0)
        address = str(peer[0])
        if address.startswith("::ffff:"):
            address = address[7:]
        self.sluice = Session(
            id=secrets.token_hex(6), peer=address, port=int(peer[1]), listener=self.listener
        )
        self._auth_require_tls = not clear_text_auth_allowed(address, self.runtime)
        self.listener.protocols.add(self)
        self.listener.per_client[address] += 1
        metrics.CONNECTIONS.set(len(self.listener.protocols))

    def connection_lost(self, error: Exception | None) -> None:
        self.sluice.gone = True
        if self in self.listener.protocols:
            self.listener.protocols.discard(self)
            self.listener.per_client[self.sluice.peer] -= 1
            if self.listener.per_client[self.sluice.peer] <= 0:
                del self.listener.per_client[self.sluice.peer]
            metrics.CONNECTIONS.set(len(self.listener.protocols))
        # A client that hangs up before DATA gives its quota reservations back.
        quota.abandon_soon(self.tx)
        super().connection_lost(error)

    @property
    def runtime(self) -> Runtime:
        return self.listener.runtime()

    async def _handle_client(self) -> None:
        tx = Transaction(session=self.sluice, rt=self.runtime)
        verdict = await pipeline.run_phase("connect", tx)
        if verdict is not None:
            await self.push(str(verdict))
            return
        if await self.talked_first():
            return
        await super()._handle_client()

    async def push(self, status: AnyStr) -> None:
        status = replies.ours(status)
        await super().push(status)
        text = status if isinstance(status, str) else status.decode("ascii", "replace")
        if text.startswith("421") and self.transport is not None:
            # 421 means we are closing the channel (RFC 5321 §3.8).
            self.transport.close()

    async def smtp_AUTH(self, arg: str) -> None:
        if self.listener.locked_out(self.sluice.peer):
            await self.push(str(replies.AUTH_LOCKED_OUT))
            return
        await super().smtp_AUTH(arg)

    async def smtp_DATA(self, arg: str) -> None:
        tx = self.tx
        if tx is not None and tx.refusals and not tx.recipients:
            # Every RCPT was refused yet a pipelining client sent DATA: say why, and end
            # the transaction so its next MAIL FROM needs no RSET (it sends none).
            await self.push(str(replies.no_valid_recipients(tx.refusals)))
            await self.end_transaction()
            self._set_rset_state()
            return
        await super().smtp_DATA(arg)

    # aiosmtpd calls its authenticator without awaiting it: ours is a coroutine
    # (scrypt in a thread), which the built-in mechanisms hand back unawaited.
    async def auth_PLAIN(self, _: Any, args: list[str]) -> AuthResult:
        return await _settled(await super().auth_PLAIN(_, args))

    async def auth_LOGIN(self, _: Any, args: list[str]) -> AuthResult:
        return await _settled(await super().auth_LOGIN(_, args))

    async def end_transaction(self) -> None:
        """Forget a transaction that never reached DATA, giving its reservations back."""
        await quota.abandon(self.tx)
        self.tx = None

    def say_goodbye(self) -> None:
        """Tell an idle client we are shutting down, and close."""
        if self.transport is None or self.transport.is_closing():
            return
        self._writer.write(f"{replies.SHUTTING_DOWN}\r\n".encode())
        self.transport.close()


async def _settled(result: Any) -> AuthResult:
    return await result if inspect.isawaitable(result) else result


_checks: list[concurrent.futures.ThreadPoolExecutor] = []


def _password_checks() -> concurrent.futures.ThreadPoolExecutor:
    """Two threads for scrypt: enough for real clients, a bound on a guessing flood."""
    if not _checks:
        _checks.append(
            concurrent.futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="scrypt")
        )
    return _checks[0]


def tls_context(settings: Settings) -> ssl.SSLContext | None:
    """The server context for STARTTLS, or None when smtp.tls is not set."""
    if settings.smtp.tls is None:
        return None
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(settings.smtp.tls.cert_file, settings.smtp.tls.key_file)
    return ctx


def clear_text_auth_allowed(address: str, rt: Runtime) -> bool:
    """AUTH before STARTTLS only where nobody can listen in: loopback and trusted networks."""
    try:
        loopback = ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False
    return loopback or rt.directory.is_trusted(address)


class Handler:
    """aiosmtpd hooks: each runs one phase of the pipeline."""

    async def handle_EHLO(
        self,
        server: SluiceSMTP,
        session: LibSession,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        session.host_name = hostname
        server.sluice.helo = hostname
        await server.end_transaction()
        # aiosmtpd reads pipelined commands correctly but does not say so.
        return [*responses[:-1], "250-PIPELINING", "250-ENHANCEDSTATUSCODES", responses[-1]]

    async def handle_MAIL(
        self,
        server: SluiceSMTP,
        session: LibSession,
        envelope: Envelope,
        address: str,
        options: list[str],
    ) -> str:
        # aiosmtpd allows a new MAIL after refusing DATA itself (552): settle the old one.
        await server.end_transaction()
        tx = Transaction(
            session=server.sluice,
            rt=server.runtime,
            id=server.sluice.next_tx(),
            mail_from=address,
            mail_options=list(options),
        )
        verdict = await pipeline.run_phase("mail", tx)
        if verdict is not None:
            return str(verdict)
        server.tx = tx
        server.mail_moved()
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return str(replies.SENDER_OK)

    async def handle_RCPT(
        self,
        server: SluiceSMTP,
        session: LibSession,
        envelope: Envelope,
        address: str,
        options: list[str],
    ) -> str:
        tx = server.tx
        if tx is None:
            return str(replies.NEED_MAIL)
        tx.candidate = address
        verdict = await pipeline.run_phase("rcpt", tx)
        if verdict is not None:
            tx.refusals.append(verdict)
            return str(verdict)
        tx.recipients.append(address)
        envelope.rcpt_tos.append(address)
        return str(replies.RECIPIENT_OK)

    async def handle_DATA(self, server: SluiceSMTP, session: LibSession, envelope: Envelope) -> str:
        tx = server.tx
        if tx is None or not tx.recipients:
            return str(replies.NEED_RCPT)
        tx.data = envelope.original_content or b""
        # The client sent its final ".": from here the message is ours to see
        # through, even if the client hangs up (aiosmtpd would cancel us).
        task = asyncio.ensure_future(pipeline.run_data(tx))
        server.listener.relays.add(task)
        task.add_done_callback(server.listener.relays.discard)
        try:
            verdict = await asyncio.shield(task)
        finally:
            if task.done():
                server.tx = None
            else:
                task.add_done_callback(lambda _: setattr(server, "tx", None))
        return str(verdict)

    async def handle_RSET(self, server: SluiceSMTP, session: LibSession, envelope: Envelope) -> str:
        await server.end_transaction()
        return str(replies.OK)

    async def handle_exception(self, error: Exception) -> str:
        log.error("smtp session error: %r", error, exc_info=error)
        return str(replies.INTERNAL_ERROR)
