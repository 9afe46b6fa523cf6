"""CPU work on large messages runs in a worker thread, so other sessions keep their turns.

Under the bound a thread hop costs more than it saves. Over it, the loop
still gets the interpreter every switch interval (5 ms) while the work
runs, and hashing and RSA release the GIL outright: one large message no
longer holds every other SMTP session for the whole rewrite or signature.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

# About 5 ms of signing or rewriting; measured in bench/loop_lag.py.
OFF_LOOP_BYTES = 256 * 1024


async def run(size: int, fn: Callable[..., T], *args: object) -> T:
    """``fn(*args)``: inline for a message under the bound, else in a worker thread."""
    if size < OFF_LOOP_BYTES:
        return fn(*args)
    return await asyncio.to_thread(fn, *args)
