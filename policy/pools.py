"""Choosing the sending IP of a transaction from the tenant's pool."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from conf import PoolIp


class RoundRobin:
    """Rotates through the enabled IPs of each pool, one transaction at a time."""

    def __init__(self, pools: dict[str, Sequence[PoolIp]]):
        self._cycles = {
            name: itertools.cycle([ip for ip in ips if ip.enabled])
            for name, ips in pools.items()
            if any(ip.enabled for ip in ips)
        }

    def choose(self, pool: str) -> PoolIp | None:
        cycle = self._cycles.get(pool)
        return next(cycle) if cycle else None
