"""Was an open or a click a person's, or a machine's? Pure rules, no I/O.

Mailbox providers and security gateways fetch images and follow links on
their own, so raw opens and clicks overstate engagement and would fire
"opened" and "clicked" triggers for nobody. Every event keeps its raw
record; this module labels it ``human`` or ``machine`` with the rule that
decided, first match wins:

``bot_agent`` (opens and clicks): no User-Agent, or one naming an HTTP
library, crawler or headless browser (curl, python-requests, Go-http-client,
HeadlessChrome, "bot", "spider", ...). Mail clients and browsers always send
a browser User-Agent.

``apple_mpp`` (opens): from 17.0.0.0/8, Apple's own network (ARIN: Apple
Inc.), or with the bare User-Agent ``Mozilla/5.0``. Apple Mail Privacy
Protection loads every remote image through Apple's proxies when the
message reaches the device, read or not (Apple's "Use Mail Privacy
Protection on iPhone" support article); ESPs that flag machine opens
(SendGrid's ``sg_machine_open``, Validity) report this address range and
agent for those fetches.

``google_prefetch`` (opens): User-Agent containing ``GoogleImageProxy``
less than ``GOOGLE_PREFETCH`` seconds after sending. Gmail's image proxy
(ggpht.com) fetches when the message is opened, which is a human open and
stays one; a fetch right after delivery is the proxy caching on its own.

``scanner_network`` (clicks): from the published mail networks of
security gateways that follow links before the recipient sees them:
Microsoft 365 Exchange Online Protection, whose Safe Links detonate URLs
(the ranges of spf.protection.outlook.com, listed in "Microsoft 365 URLs
and IP address ranges"); Mimecast (us/eu._netblocks.mimecast.com);
Proofpoint (pphosted.com, 67.231.144.0/20 and 148.163.128.0/19); Barracuda
Email Security (64.235.144.0/20, 209.222.80.0/21). Only clicks: Outlook's
image proxy carries real opens (warmbly#410). The ranges are data here; a
scanner outside them is usually caught by the next two rules.

``scanner_agent`` (clicks): a User-Agent naming one of those products.

``too_soon``: an open less than ``OPEN_MIN_DELAY`` or a click less than
``CLICK_MIN_DELAY`` seconds after Sluice relayed the message (the token's
``issued_at``). No person receives, reads and clicks that fast; link
scanners at the receiving gateway do.

``burst`` (clicks): ``BURST_LINKS`` or more different links of one message
to one recipient within ``BURST_WINDOW`` seconds. A scanner follows every
link at once; a person opens one at a time (Marketo's "proximity pattern"
uses the same idea).

Anything else is ``human``. Limits: a scanner that spreads its fetches over
minutes from residential addresses looks human; a burst split across two
Sluice hosts is seen as two smaller ones.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Protocol

HUMAN = "human"
MACHINE = "machine"

OPEN_MIN_DELAY = 3.0
CLICK_MIN_DELAY = 10.0
GOOGLE_PREFETCH = 30.0
BURST_LINKS = 3
BURST_WINDOW = 2.0

_APPLE = ("17.0.0.0/8",)
_SCANNERS = (
    # Microsoft 365 Exchange Online Protection (Safe Links)
    "40.92.0.0/15",
    "40.107.0.0/16",
    "52.100.0.0/14",
    "104.47.0.0/17",
    "2a01:111:f400::/48",
    "2a01:111:f403::/48",
    # Mimecast
    "205.139.110.0/24",
    "207.211.30.0/24",
    "216.205.24.0/24",
    "91.220.42.0/24",
    "146.101.78.0/24",
    "195.130.217.0/24",
    # Proofpoint
    "67.231.144.0/20",
    "148.163.128.0/19",
    # Barracuda
    "64.235.144.0/20",
    "209.222.80.0/21",
)
_BOT_AGENT = re.compile(
    r"bot\b|crawl|spider|curl/|wget/|python-|aiohttp|go-http-client|java/|okhttp|libwww"
    r"|httpclient|headless|phantomjs|scrapy|node-fetch|axios/"
)
_SCANNER_AGENT = re.compile(r"safelinks|mimecast|proofpoint|urldefense|barracuda")


class Hit(Protocol):
    """What the rules look at (``policy.engagement.Engagement`` is one)."""

    @property
    def kind(self) -> str: ...  # open | click
    @property
    def at(self) -> float: ...
    @property
    def sent_at(self) -> float: ...
    @property
    def ip(self) -> str: ...
    @property
    def user_agent(self) -> str: ...
    @property
    def link_index(self) -> int: ...


def _networks(cidrs: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(c) for c in cidrs)


_APPLE_NETS = _networks(_APPLE)
_SCANNER_NETS = _networks(_SCANNERS)


@lru_cache(maxsize=4096)
def _in(ip: str, apple: bool) -> bool:
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    nets = _APPLE_NETS if apple else _SCANNER_NETS
    return any(address in net for net in nets)


def classify(hit: Hit, neighbours: Iterable[Hit] = ()) -> tuple[str, str]:
    """(``human`` or ``machine``, the rule that decided) for an open or a click.

    ``neighbours`` are the other clicks of the same message by the same
    recipient (any time; only those within ``BURST_WINDOW`` count).
    """
    agent = hit.user_agent.strip()
    lower = agent.lower()
    if not agent or _BOT_AGENT.search(lower):
        return MACHINE, "bot_agent"
    delay = hit.at - hit.sent_at
    if hit.kind == "open":
        if agent == "Mozilla/5.0" or _in(hit.ip, True):
            return MACHINE, "apple_mpp"
        if "googleimageproxy" in lower and delay < GOOGLE_PREFETCH:
            return MACHINE, "google_prefetch"
        if delay < OPEN_MIN_DELAY:
            return MACHINE, "too_soon"
        return HUMAN, ""
    if _in(hit.ip, False):
        return MACHINE, "scanner_network"
    if _SCANNER_AGENT.search(lower):
        return MACHINE, "scanner_agent"
    if delay < CLICK_MIN_DELAY:
        return MACHINE, "too_soon"
    links = {hit.link_index}
    for other in neighbours:
        if other.kind == "click" and abs(other.at - hit.at) <= BURST_WINDOW:
            links.add(other.link_index)
    if len(links) >= BURST_LINKS:
        return MACHINE, "burst"
    return HUMAN, ""
