"""Many transactions at once over many connections, and a tally of the replies."""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Sequence

from tests.support.harness import message, send


async def blast(
    ports: Sequence[int], total: int, connections: int, domain: str = "example.net"
) -> collections.Counter[str]:
    """`total` one-recipient messages, at most `connections` open at a time, spread over `ports`.

    Returns how many ended with each "code enhanced" pair, e.g. {"250": 500, "451 4.7.1": 200}.
    """
    gate = asyncio.Semaphore(connections)

    async def one(i: int) -> str:
        to = f"load{i}@{domain}"
        async with gate:
            code, text = await send(ports[i % len(ports)], to=to, data=message(to=to))
        return "250" if code == 250 else f"{code} {text.split()[0]}"

    return collections.Counter(await asyncio.gather(*(one(i) for i in range(total))))
