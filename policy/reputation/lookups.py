"""What the DNS authentication checks ask of DNS, as a function the scheduler hands in.

The checks (policy/reputation/spf.py, dmarc.py, dnsauth.py) stay pure: they
never import a DNS driver, they await a ``Lookup`` that scheduler/reputation
builds over dnspython and the configured resolver, and a test can hand them
a dict.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable

# (name, type) -> the records as text: TXT with its strings joined, A/AAAA the
# address, MX "preference host", PTR the host; [] for NXDOMAIN or no records of
# that type (both are "void" to SPF, RFC 7208 §4.6.4).
Lookup = Callable[[str, str], Awaitable[list[str]]]


class DnsFailure(Exception):
    """The resolver gave no usable answer (timeout, SERVFAIL, refused): a temporary error."""


def reverse_name(ip: str) -> str:
    """Where an IP's PTR lives: 12.2.0.192.in-addr.arpa, or the nibbles under ip6.arpa."""
    return ipaddress.ip_address(ip).reverse_pointer


def address_type(ip: str) -> str:
    """The record type holding addresses of the IP's family: A or AAAA."""
    return "AAAA" if ipaddress.ip_address(ip).version == 6 else "A"


def host(name: str) -> str:
    """A DNS name as compared: lower case, no final dot."""
    return name.strip().rstrip(".").lower()
