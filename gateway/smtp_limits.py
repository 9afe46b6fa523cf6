"""What a session may do before it sends mail: the bounds against slow and idle clients.

A connection costs a slot of ``smtp.max_connections`` for as long as it stays
open, so a client that never gets to work is the cheapest way to starve the
listener (slowloris). Three bounds, none of which a real sender notices:

- until it authenticates or sends its first MAIL, a session's idle timer is
  ``smtp.pre_mail_timeout`` (not the RFC's 5 minutes, which are for a
  transaction in progress);
- ``smtp.max_idle_commands`` commands that move no mail (NOOP, RSET, HELO,
  EHLO, VRFY, HELP) in a row end the session with ``421 4.7.0``;
- a client that talks before the greeting (RFC 5321 §4.3.1: it must wait for
  it) is a bot pipelining blind: ``554 5.5.1`` and the connection closes. With
  ``smtp.greeting_delay`` above 0 the greeting waits that long to catch them.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import TYPE_CHECKING, Any

from gateway import replies

if TYPE_CHECKING:
    from gateway.pipeline import Session
    from gateway.runtime import Runtime

log = logging.getLogger("sluice.smtp")

IDLE_COMMANDS = ("NOOP", "RSET", "HELO", "EHLO", "VRFY", "HELP")


class SessionLimits:
    """Mixed into the SMTP protocol class, ahead of aiosmtpd's ``SMTP``."""

    sluice: Session
    tx: Any
    transport: Any
    _reader: Any
    _timeout_duration: float
    idle_commands: int = 0

    if TYPE_CHECKING:  # provided by the protocol class this is mixed into

        @property
        def runtime(self) -> Runtime: ...

        async def push(self, status: Any) -> None: ...

    def _engaged(self) -> bool:
        return self.sluice.username is not None or self.sluice.transactions > 0

    def _reset_timeout(self, duration: float | None = None) -> None:
        if duration is None and not self._engaged():
            duration = min(self.runtime.settings.smtp.pre_mail_timeout, self._timeout_duration)
        super()._reset_timeout(duration)  # type: ignore[misc]

    async def talked_first(self) -> bool:
        """True (and the client told and dropped) when it sent before our greeting."""
        delay = self.runtime.settings.smtp.greeting_delay
        if delay > 0:
            await asyncio.sleep(delay)
        if not getattr(self._reader, "_buffer", b""):
            return False
        log.info("early talker session=%s client=%s", self.sluice.id, self.sluice.peer)
        await self.push(str(replies.EARLY_TALKER))
        if self.transport is not None:
            self.transport.close()
        return True

    async def idle_command(self) -> bool:
        """Count one command that moves no mail; True when the session is over its bound."""
        self.idle_commands += 1
        if self.idle_commands <= self.runtime.settings.smtp.max_idle_commands:
            return False
        log.info(
            "idle commands session=%s client=%s count=%d",
            self.sluice.id,
            self.sluice.peer,
            self.idle_commands,
        )
        await self.push(str(replies.TOO_MANY_IDLE_COMMANDS))
        return True

    def mail_moved(self) -> None:
        """A MAIL was accepted: the client is working, its idle count starts again."""
        self.idle_commands = 0
        self._reset_timeout()

    def authenticated(self) -> None:
        """AUTH succeeded: the timer armed for this command becomes the normal one."""
        self._reset_timeout()

    async def smtp_NOOP(self, arg: str) -> None:
        if not await self.idle_command():
            await super().smtp_NOOP(arg)  # type: ignore[misc]

    async def smtp_RSET(self, arg: str) -> None:
        if not await self.idle_command():
            await super().smtp_RSET(arg)  # type: ignore[misc]

    async def smtp_HELO(self, arg: str) -> None:
        if not await self.idle_command():
            await super().smtp_HELO(arg)  # type: ignore[misc]

    async def smtp_EHLO(self, arg: str) -> None:
        if not await self.idle_command():
            await super().smtp_EHLO(arg)  # type: ignore[misc]

    async def smtp_VRFY(self, arg: str) -> None:
        if not await self.idle_command():
            await super().smtp_VRFY(arg)  # type: ignore[misc]

    async def smtp_HELP(self, arg: str) -> None:
        if not await self.idle_command():
            await super().smtp_HELP(arg)  # type: ignore[misc]


def _keep_help() -> None:
    # aiosmtpd's HELP reads each command's syntax from attributes on its method.
    from aiosmtpd.smtp import SMTP

    for command in IDLE_COMMANDS:
        ours = getattr(SessionLimits, f"smtp_{command}")
        functools.update_wrapper(ours, getattr(SMTP, f"smtp_{command}"), assigned=())


_keep_help()
