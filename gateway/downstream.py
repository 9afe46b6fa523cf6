"""The next hop: a pool of persistent SMTP connections to PowerMTA (or ``gateway.outbox``).

The no-loss rule lives here: ``send`` returns 250 only when the next hop
answered 250 for this very message. Anything else is mapped to Sluice's own
reply (a refusal keeps its class and enhanced code; a lost connection or a
timeout is 451), and a failure after the final "." may have delivered the
message, so it is reported as ``possible_duplicate`` rather than guessed.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import aiosmtplib

from conf import DownstreamSettings
from gateway import metrics, replies
from gateway.breaker import Breaker, cause
from gateway.replies import Verdict

if TYPE_CHECKING:
    from gateway.outbox import OutboxSink

log = logging.getLogger("sluice.downstream")
ENHANCED = re.compile(r"^([245]\.\d{1,3}\.\d{1,3})\b")
CONNECTION_ERRORS = (
    aiosmtplib.SMTPServerDisconnected,
    aiosmtplib.SMTPConnectError,
    aiosmtplib.SMTPTimeoutError,
    ConnectionError,
    OSError,
)
# The sender hung up (or was cut off) before the message went out: it keeps
# the message and retries, so sending or spooling this copy would make two.
CLIENT_GONE = "client gone before DATA"


def _always() -> bool:
    return True


@dataclass(frozen=True)
class Result:
    verdict: Verdict
    outcome: str  # relayed | deferred | rejected | possible_duplicate
    reply: str = ""  # the next hop's own reply, for logs only


def _utf8_plan(
    client: aiosmtplib.SMTP, mail_from: str, recipients: Sequence[str], smtputf8: bool
) -> tuple[list[str], str] | None:
    """MAIL's options and the addresses' encoding; None: UTF-8 the next hop cannot take."""
    offered = client.supports_extension("smtputf8")
    if not offered and not (mail_from.isascii() and all(r.isascii() for r in recipients)):
        return None
    # SMTPUTF8 goes on when the client asked for it and the next hop offers it.
    return (["SMTPUTF8"], "utf-8") if smtputf8 and offered else ([], "ascii")


def _worst(refused: list[aiosmtplib.SMTPRecipientRefused]) -> aiosmtplib.SMTPRecipientRefused:
    """The refusal to pass on: a temporary one first, so the sender tries again."""
    return next((e for e in refused if e.code < 500), refused[0])


async def _recipients(
    client: aiosmtplib.SMTP, recipients: Sequence[str], encoding: str
) -> list[aiosmtplib.SMTPRecipientRefused]:
    """RCPT for each recipient; the refusals (any other error propagates)."""
    refused = []
    for rcpt in recipients:
        try:
            await client.rcpt(rcpt, encoding=encoding)
        except aiosmtplib.SMTPRecipientRefused as exc:
            refused.append(exc)
    return refused


class SmtpDownstream:
    def __init__(self, settings: DownstreamSettings, *, local_hostname: str = "localhost"):
        self.settings = settings
        self.local_hostname = settings.helo or local_hostname
        self.slots = asyncio.Semaphore(settings.pool_size)
        self.idle: list[tuple[aiosmtplib.SMTP, float]] = []
        self.breaker = Breaker(
            settings.breaker_failures, settings.breaker_reset, f"{settings.host}:{settings.port}"
        )
        self.open = 0
        # Whether the next hop's EHLO offered SMTPUTF8; None until a first connection.
        self.offers_smtputf8: bool | None = None

    async def send(
        self,
        mail_from: str,
        recipients: Sequence[str],
        data: bytes,
        *,
        smtputf8: bool = False,
        alive: Callable[[], bool] | None = None,
    ) -> Result:
        """Relay one message; ``alive`` says whether the sender still waits for the answer.

        The wait for a pooled connection and the relay share one
        ``downstream.timeout``: behind a stalled PowerMTA, a message that waited
        for a slot must not go out after its sender was cut off and will retry.
        """
        if not self.breaker.allow():
            return Result(replies.DOWNSTREAM_UNAVAILABLE, "deferred", "breaker open")
        stage = ["slot"]
        started = time.monotonic()
        try:
            # The wait for a pooled connection counts too: the sender's SMTP timeout
            # (smtp.upstream_timeout) runs from its final "." whatever we wait on.
            async with asyncio.timeout(self.settings.timeout):
                async with self.slots:
                    metrics.DOWNSTREAM_IN_USE.inc()
                    try:
                        stage[0] = "connect"
                        result = await self._relay(
                            mail_from, recipients, data, smtputf8, stage, alive or _always
                        )
                    finally:
                        metrics.DOWNSTREAM_IN_USE.dec()
        except TimeoutError:
            if stage[0] == "slot":  # nothing was sent, and the next hop may be fine
                self.breaker.probing = False  # a probe gives its turn back
                result = Result(replies.DOWNSTREAM_TIMEOUT, "deferred", "no free connection")
            else:
                self.breaker.failed("timeout")
                result = self._lost(stage[0], replies.DOWNSTREAM_TIMEOUT, "timeout")
        except asyncio.CancelledError:
            if stage[0] != "data":
                raise
            # Stopped (the drain ran out) after the final dot may have gone: the
            # next hop may have the message, so it is neither refunded nor retried.
            current = asyncio.current_task()
            if current is not None:
                current.uncancel()
            result = self._lost("data", replies.DOWNSTREAM_LOST, "cancelled at shutdown")
        metrics.observe_downstream(result.outcome, time.monotonic() - started)
        return result

    async def _relay(
        self,
        mail_from: str,
        recipients: Sequence[str],
        data: bytes,
        smtputf8: bool,
        stage: list,
        alive: Callable[[], bool],
    ) -> Result:
        taken = await self._connection()
        if isinstance(taken, Result):
            return taken
        client, reused = taken
        stage[0] = "envelope"
        plan = _utf8_plan(client, mail_from, recipients, smtputf8)
        if plan is None:
            # Checked at MAIL and RCPT once the next hop is known; this is the first time.
            self._give_back(client)
            return Result(replies.UTF8_NOT_RELAYED, "rejected", "no SMTPUTF8 downstream")
        options, encoding = plan
        try:
            try:
                await client.mail(mail_from, options=options, encoding=encoding)
            except CONNECTION_ERRORS:
                if not reused:
                    raise
                # The peer closed the idle pooled connection: nothing was sent yet,
                # so one retry on a fresh connection is safe.
                self._close(client)
                client = await self._connect()
                await client.mail(mail_from, options=options, encoding=encoding)
            refused = await _recipients(client, recipients, encoding)
            if refused:
                return await self._answered(client, _worst(refused))
            if not alive():  # its sender will retry: this copy must not go too
                await self._reset(client)
                return Result(replies.DOWNSTREAM_LOST, "deferred", CLIENT_GONE)
            stage[0] = "data"
            response = await client.data(data)
        except aiosmtplib.SMTPResponseException as exc:
            return await self._answered(client, exc)
        except CONNECTION_ERRORS as exc:
            self._close(client)
            self.breaker.failed(cause(exc))
            return self._lost(stage[0], replies.DOWNSTREAM_LOST, str(exc))
        except asyncio.CancelledError:
            self._close(client)
            raise
        except Exception as exc:
            # Anything else (an address the client library cannot encode, a bug):
            # the connection is in an unknown state, so it is closed, never leaked.
            self._close(client)
            log.exception("downstream relay failed at %s", stage[0])
            return self._lost(stage[0], replies.DOWNSTREAM_LOST, repr(exc))
        self._give_back(client)
        self.breaker.succeeded()
        return Result(replies.QUEUED, "relayed", f"{response.code} {response.message[:200]}")

    async def _connection(self) -> tuple[aiosmtplib.SMTP, bool] | Result:
        """A pooled or new connection (and whether it was pooled), or why there is none."""
        try:
            return await self._take()
        except CONNECTION_ERRORS as exc:
            self.breaker.failed(cause(exc))
            return Result(replies.DOWNSTREAM_UNAVAILABLE, "deferred", f"connect: {exc}")
        except Exception as exc:  # e.g. a refused login: nothing of it stays open (_connect)
            log.error("downstream connect failed: %r", exc)
            return Result(replies.DOWNSTREAM_UNAVAILABLE, "deferred", f"connect: {exc!r}")

    async def _answered(
        self, client: aiosmtplib.SMTP, exc: aiosmtplib.SMTPResponseException
    ) -> Result:
        """The next hop refused: its answer is ours (a 421 also closes the connection).

        A refused recipient refuses the whole transaction: one DATA reply cannot
        speak for some recipients only, and no accepted one may be silently dropped.
        """
        if exc.code == 421:
            self._close(client)
        else:
            await self._reset(client)
        self.breaker.succeeded()
        return self._refused(exc.code, exc.message)

    def _refused(self, code: int, message: str) -> Result:
        match = ENHANCED.match(message or "")
        verdict = replies.downstream_verdict(code, match[1] if match else None)
        outcome = "deferred" if verdict.temporary else "rejected"
        return Result(verdict, outcome, f"{code} {(message or '')[:200]}")

    def _lost(self, stage: str, verdict: Verdict, detail: str) -> Result:
        # After the final "." the next hop may have queued the message: the sender
        # will retry, so say so in the log instead of pretending it was not sent.
        if stage == "data":
            log.warning("possible_duplicate: downstream failed after DATA began: %s", detail)
            return Result(verdict, "possible_duplicate", detail)
        return Result(verdict, "deferred", detail)

    async def _take(self) -> tuple[aiosmtplib.SMTP, bool]:
        now = time.monotonic()
        while self.idle:
            client, since = self.idle.pop()
            if client.is_connected and now - since < self.settings.max_idle:
                return client, True
            self._close(client)
        return await self._connect(), False

    def _client(self) -> aiosmtplib.SMTP:
        """A client for the next hop, not yet connected (PowerMTA on a trusted network,
        usually with a self-signed certificate: STARTTLS does not check it)."""
        s = self.settings
        return aiosmtplib.SMTP(
            hostname=s.host,
            port=s.port,
            timeout=s.connect_timeout,
            local_hostname=self.local_hostname,
            start_tls=s.starttls,
            validate_certs=False,
        )

    async def _connect(self) -> aiosmtplib.SMTP:
        s = self.settings
        client = self._client()
        try:
            await client.connect()
            client.timeout = s.timeout
            if s.username and s.password:
                await client.login(s.username, s.password)
            if client.is_ehlo_or_helo_needed:
                await client.ehlo()  # its extensions say whether SMTPUTF8 can go on
        except BaseException:
            if client.is_connected:
                client.close()  # a refused login or a timeout leaves no socket behind
            raise
        self.offers_smtputf8 = client.supports_extension("smtputf8")
        self.open += 1
        metrics.DOWNSTREAM_OPEN.set(self.open)
        return client

    async def _reset(self, client: aiosmtplib.SMTP) -> None:
        try:
            await client.rset()
        except (aiosmtplib.SMTPException, *CONNECTION_ERRORS):
            self._close(client)
        else:
            self._give_back(client)

    def _give_back(self, client: aiosmtplib.SMTP) -> None:
        if client.is_connected:
            self.idle.append((client, time.monotonic()))
        else:
            self._close(client)

    def _close(self, client: aiosmtplib.SMTP) -> None:
        if client.is_connected:
            client.close()
        self.open = max(0, self.open - 1)
        metrics.DOWNSTREAM_OPEN.set(self.open)

    async def ping(self) -> None:
        """Raise unless the next hop answers (for /readyz): NOOP on a pooled connection."""
        if self.breaker.is_open:
            raise ConnectionError("downstream circuit breaker is open")
        client, _ = await self._take()
        try:
            await client.noop()
        except (aiosmtplib.SMTPException, *CONNECTION_ERRORS):
            self._close(client)
            raise
        self._give_back(client)

    async def probe(self) -> None:
        """While the breaker is open: connect, EHLO, QUIT; close the breaker if that works.

        A supervised task calls this every ``breaker_reset`` seconds, so the
        breaker (and ``/readyz``) heals without waiting for a message to try.
        """
        if not self.breaker.is_open or self.breaker.probing:
            return
        s = self.settings
        client = self._client()
        try:
            async with asyncio.timeout(s.connect_timeout * 3):
                await client.connect()
                await client.ehlo()
                await client.quit()
        except (aiosmtplib.SMTPException, *CONNECTION_ERRORS, TimeoutError) as exc:
            self.breaker.failed(cause(exc))
            return
        finally:
            if client.is_connected:
                client.close()
        self.breaker.succeeded()

    async def close(self) -> None:
        while self.idle:
            client, _ = self.idle.pop()
            try:
                await asyncio.wait_for(client.quit(), 2)
            except Exception:
                self._close(client)


def build(settings: DownstreamSettings, local_hostname: str) -> SmtpDownstream | OutboxSink:
    from gateway.outbox import OutboxSink  # it answers with this module's Result

    if settings.sink:
        return OutboxSink(settings.sink)
    return SmtpDownstream(settings, local_hostname=local_hostname)
