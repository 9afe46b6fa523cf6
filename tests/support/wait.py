"""Waiting for a condition: poll it against a deadline instead of sleeping a guess.

A fixed sleep is either too short on a loaded machine (a flaky test) or longer
than needed everywhere else (a slow suite); a poll returns as soon as the
condition holds and fails with what it last saw when it never does.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def until(
    check: Callable[[], T | Awaitable[T]],
    *,
    done: Callable[[T], object] = bool,
    timeout: float = 5.0,
    every: float = 0.05,
    what: str = "condition",
) -> T:
    """Call ``check`` (plain or async) until ``done(answer)``; that answer.

    Raises AssertionError naming `what` and the last answer after `timeout` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        answer = check()
        if inspect.isawaitable(answer):
            answer = await answer
        if done(answer):  # type: ignore[arg-type]
            return answer  # type: ignore[return-value]
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what} not met within {timeout:g} s; last answer: {answer!r}")
        await asyncio.sleep(every)


def code_is(code: int) -> Callable[[tuple[int, str]], bool]:
    """For `done`: an SMTP (code, text) reply has this code."""
    return lambda reply: reply[0] == code
