"""The next hop: a pool of persistent SMTP connections to PowerMTA, or the outbox sink.

The no-loss rule lives here: ``send`` returns 250 only when the next hop
answered 250 for this very message. Anything else is mapped to Sluice's own
reply (a refusal keeps its class and enhanced code; a lost connection or a
timeout is 451), and a failure after the final "." may have delivered the
message, so it is reported as ``possible_duplicate`` rather than guessed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import aiosmtplib

from conf import DownstreamSettings
from gateway import metrics, replies
from gateway.replies import Verdict

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


class Breaker:
    """Fail fast while the next hop is down; let one probe through after ``reset`` seconds."""

    def __init__(self, failures: int, reset: float):
        self.threshold = failures
        self.reset = reset
        self.failures = 0
        self.open_until = 0.0
        self.probing = False

    def allow(self) -> bool:
        if self.failures < self.threshold:
            return True
        if time.monotonic() < self.open_until or self.probing:
            return False
        self.probing = True
        return True

    def succeeded(self) -> None:
        self.failures = 0
        self.probing = False
        metrics.DOWNSTREAM_BREAKER_OPEN.set(0)

    def failed(self) -> None:
        self.failures += 1
        self.probing = False
        if self.failures >= self.threshold:
            self.open_until = time.monotonic() + self.reset
            metrics.DOWNSTREAM_BREAKER_OPEN.set(1)

    @property
    def is_open(self) -> bool:
        return self.failures >= self.threshold


class SmtpDownstream:
    def __init__(self, settings: DownstreamSettings, *, local_hostname: str = "localhost"):
        self.settings = settings
        self.local_hostname = settings.helo or local_hostname
        self.slots = asyncio.Semaphore(settings.pool_size)
        self.idle: list[tuple[aiosmtplib.SMTP, float]] = []
        self.breaker = Breaker(settings.breaker_failures, settings.breaker_reset)
        self.open = 0

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
                result = Result(replies.DOWNSTREAM_TIMEOUT, "deferred", "no free connection")
            else:
                self.breaker.failed()
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
        options = ["SMTPUTF8"] if smtputf8 else []
        try:
            client, reused = await self._take()
        except CONNECTION_ERRORS as exc:
            self.breaker.failed()
            return Result(replies.DOWNSTREAM_UNAVAILABLE, "deferred", f"connect: {exc}")
        stage[0] = "envelope"
        try:
            try:
                await client.mail(mail_from, options=options)
            except CONNECTION_ERRORS:
                if not reused:
                    raise
                # The peer closed the idle pooled connection: nothing was sent yet,
                # so one retry on a fresh connection is safe.
                self._close(client)
                client = await self._connect()
                await client.mail(mail_from, options=options)
            refused = await _recipients(client, recipients)
            if refused:
                # One DATA reply cannot speak for some recipients only: refuse the
                # transaction so no accepted recipient is silently dropped.
                await self._reset(client)
                self.breaker.succeeded()
                worst = next((e for e in refused if e.code < 500), refused[0])
                return self._refused(worst.code, worst.message)
            if not alive():  # its sender will retry: this copy must not go too
                await self._reset(client)
                return Result(replies.DOWNSTREAM_LOST, "deferred", CLIENT_GONE)
            stage[0] = "data"
            response = await client.data(data)
        except aiosmtplib.SMTPResponseException as exc:
            if exc.code == 421:
                self._close(client)
            else:
                await self._reset(client)
            self.breaker.succeeded()
            return self._refused(exc.code, exc.message)
        except CONNECTION_ERRORS as exc:
            self._close(client)
            self.breaker.failed()
            return self._lost(stage[0], replies.DOWNSTREAM_LOST, str(exc))
        except asyncio.CancelledError:
            self._close(client)
            raise
        self._give_back(client)
        self.breaker.succeeded()
        return Result(replies.QUEUED, "relayed", f"{response.code} {response.message[:200]}")

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

    async def _connect(self) -> aiosmtplib.SMTP:
        s = self.settings
        client = aiosmtplib.SMTP(
            hostname=s.host,
            port=s.port,
            timeout=s.connect_timeout,
            local_hostname=self.local_hostname,
            start_tls=s.starttls,
            validate_certs=False,
        )
        await client.connect()
        client.timeout = s.timeout
        if s.username and s.password:
            await client.login(s.username, s.password)
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

    async def close(self) -> None:
        while self.idle:
            client, _ = self.idle.pop()
            try:
                await asyncio.wait_for(client.quit(), 2)
            except Exception:
                self._close(client)


class OutboxSink:
    """Dry run: each message and its envelope written to a folder, fsynced before 250."""

    def __init__(self, folder: str | os.PathLike[str]):
        self.folder = Path(folder)

    async def send(
        self,
        mail_from: str,
        recipients: Sequence[str],
        data: bytes,
        *,
        smtputf8: bool = False,
        alive: Callable[[], bool] | None = None,
    ) -> Result:
        envelope = {"mail_from": mail_from, "recipients": list(recipients), "at": time.time()}
        try:
            name = await asyncio.to_thread(self._write, data, envelope)
        except OSError as exc:
            log.error("outbox write failed: %s", exc)
            return Result(replies.OUTBOX_FAILED, "deferred", str(exc))
        return Result(replies.SINK_OK, "relayed", f"outbox {name}")

    def _write(self, data: bytes, envelope: dict) -> str:
        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"{time.time_ns()}-{secrets.token_hex(4)}"
        pair = (self.folder / f"{name}.eml", self.folder / f"{name}.json")
        try:
            # The message first, then its envelope: a reader treats the .json as the
            # mark that the pair is complete.
            _write_durably(pair[0], data)
            _write_durably(pair[1], json.dumps(envelope).encode())
            dir_fd = os.open(self.folder, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except OSError:
            # The sender hears a 4xx and sends again: no half of this copy may stay.
            for path in pair:
                path.unlink(missing_ok=True)
            raise
        return name

    async def ping(self) -> None:
        await asyncio.to_thread(check_room, self.folder)

    async def close(self) -> None:
        return None


async def _recipients(
    client: aiosmtplib.SMTP, recipients: Sequence[str]
) -> list[aiosmtplib.SMTPRecipientRefused]:
    """RCPT TO for each recipient; the refusals."""
    refused = []
    for rcpt in recipients:
        try:
            await client.rcpt(rcpt)
        except aiosmtplib.SMTPRecipientRefused as exc:
            refused.append(exc)
    return refused


def _write_durably(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # on a full disk, a partial file only makes it fuller
        raise


# Room for a message of the default smtp.max_message_size (25 MB) and its copy
# on the way, as Postfix keeps 1.5 x message_size_limit free before it accepts.
MIN_FREE = 64 * 1024 * 1024


def check_room(folder: Path, min_free: int = MIN_FREE) -> None:
    """Raise unless ``folder`` takes files: writable, not read-only, ``min_free`` bytes free."""
    folder.mkdir(parents=True, exist_ok=True)
    stat = os.statvfs(folder)
    if stat.f_flag & os.ST_RDONLY or not os.access(folder, os.W_OK):
        raise PermissionError(f"{folder} is read-only")
    free = stat.f_bavail * stat.f_frsize
    if free < min_free:
        raise OSError(f"{folder} is full: {free // 1024} KB free, {min_free // 1024} KB needed")


def build(settings: DownstreamSettings, local_hostname: str) -> SmtpDownstream | OutboxSink:
    if settings.sink:
        return OutboxSink(settings.sink)
    return SmtpDownstream(settings, local_hostname=local_hostname)
