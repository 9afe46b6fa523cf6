"""Who the client is, when a reverse proxy stands between it and us.

Behind a proxy every request comes from the proxy's address, so a brake keyed
on ``request.remote`` would lock out everyone at once after one client's bad
tries, or let one client try forever. ``X-Forwarded-For`` is believed only
from a configured proxy (``http.trusted_proxies``), and only as far as the
chain stays inside trusted proxies: the first address from the right that is
not one of ours is the client. A client cannot spoof its way past that by
sending its own header: a proxy appends, so the client's made-up entries sit
to the left of the address the proxy saw.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from functools import lru_cache

from aiohttp import web

LOOPBACK = ("127.0.0.0/8", "::1/128")
_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=32)
def _parsed(networks: tuple[str, ...]) -> tuple[_Network, ...]:
    return tuple(ipaddress.ip_network(n, strict=False) for n in networks)


def _trusted(address: str, networks: tuple[_Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in n for n in networks)


def client_address(request: web.BaseRequest, trusted_proxies: Sequence[str]) -> str:
    """The address the brake and the records key on: the peer, or the one its proxy reports."""
    peer = request.remote or "?"
    networks = _parsed(tuple(trusted_proxies))
    forwarded = request.headers.getall("X-Forwarded-For", [])
    if not forwarded or not _trusted(peer, networks):
        return peer
    hops = [h.strip() for h in ",".join(forwarded).split(",") if h.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, networks):
            return hop[:64]
    return hops[0][:64] if hops else peer
