"""The circuit breaker in front of the next hop, and how a failure is named in the log.

While the next hop is down, clients are answered at once instead of each
waiting out the timeout; the breaker's opening and closing are logged once
each, with the cause and how long the next hop was away.
"""

from __future__ import annotations

import logging
import time

import aiosmtplib

from gateway import metrics

log = logging.getLogger("sluice.downstream")


class Breaker:
    """Fail fast while the next hop is down; let one probe through after ``reset`` seconds.

    Its opening and its closing are logged once each, with the cause and
    how long the next hop was away (``name`` says which one).
    """

    def __init__(self, failures: int, reset: float, name: str = "next hop"):
        self.threshold = failures
        self.reset = reset
        self.name = name
        self.failures = 0
        self.open_until = 0.0
        self.probing = False
        self.down_since = 0.0  # the first failure of those in a row
        self.last_cause = ""

    def allow(self) -> bool:
        if self.failures < self.threshold:
            return True
        if time.monotonic() < self.open_until or self.probing:
            return False
        self.probing = True
        return True

    def succeeded(self) -> None:
        if self.is_open:
            away = time.monotonic() - self.down_since
            log.info("downstream %s back after %.1fs", self.name, away)
        self.failures = 0
        self.probing = False
        metrics.DOWNSTREAM_BREAKER_OPEN.set(0)

    def failed(self, cause: str = "") -> None:
        if self.failures == 0:
            self.down_since = time.monotonic()
        was_open = self.is_open
        self.last_cause = cause
        self.failures += 1
        self.probing = False
        if self.failures >= self.threshold:
            self.open_until = time.monotonic() + self.reset
            metrics.DOWNSTREAM_BREAKER_OPEN.set(1)
            if not was_open:
                log.warning("downstream %s down: %s", self.name, cause or "failing")

    @property
    def is_open(self) -> bool:
        return self.failures >= self.threshold


def cause(exc: BaseException) -> str:
    """A failure to reach the next hop in a few words: "connection refused", "timeout"."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ConnectionRefusedError):
            return "connection refused"
        if isinstance(seen, TimeoutError | aiosmtplib.SMTPTimeoutError):
            return "timeout"
        seen = seen.__cause__
    return str(exc) or exc.__class__.__name__
