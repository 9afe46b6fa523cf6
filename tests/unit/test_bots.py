"""Human or machine: each documented rule decides the cases it names, and no others."""

import pytest

from policy.bots import BURST_WINDOW, CLICK_MIN_DELAY, GOOGLE_PREFETCH, classify
from policy.engagement import Engagement

SENT = 1_800_000_000.0
HOUR = 3600.0
SAFARI = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)"
CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
GMAIL_PROXY = (
    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
)


def hit(kind="open", *, after=HOUR, ip="198.51.100.7", agent=CHROME, link=0) -> Engagement:
    return Engagement(
        kind, "acme", "job", "<m@x>", "a@example.net", link, "", ip, agent, SENT + after, SENT
    )


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (hit(), ("human", "")),
        (hit("click"), ("human", "")),
        (hit(agent=SAFARI), ("human", "")),
        # Apple Mail Privacy Protection: Apple's network, or the bare agent it fetches with.
        (hit(ip="17.58.1.2", agent=SAFARI), ("machine", "apple_mpp")),
        (hit(agent="Mozilla/5.0"), ("machine", "apple_mpp")),
        (hit(ip="::ffff:17.1.2.3"), ("machine", "apple_mpp")),
        # Gmail's proxy: a real open when the reader opens, a prefetch right after delivery.
        (hit(agent=GMAIL_PROXY, after=GOOGLE_PREFETCH - 5), ("machine", "google_prefetch")),
        (hit(agent=GMAIL_PROXY, after=GOOGLE_PREFETCH + 60), ("human", "")),
        # Libraries and crawlers, or no agent at all.
        (hit(agent=""), ("machine", "bot_agent")),
        (hit("click", agent="python-requests/2.32"), ("machine", "bot_agent")),
        (hit("click", agent="curl/8.5.0"), ("machine", "bot_agent")),
        (hit(agent="Mozilla/5.0 (compatible; bingbot/2.0)"), ("machine", "bot_agent")),
        # Security gateways following links: by network, by name.
        (hit("click", ip="40.107.22.5"), ("machine", "scanner_network")),
        (hit("click", ip="2a01:111:f400:7e1b::1"), ("machine", "scanner_network")),
        (hit("click", ip="205.139.110.30"), ("machine", "scanner_network")),
        (hit("click", ip="148.163.150.2"), ("machine", "scanner_network")),
        (hit("click", ip="209.222.82.1"), ("machine", "scanner_network")),
        (hit("click", agent=CHROME + " Mimecast"), ("machine", "scanner_agent")),
        # Outlook's image proxy carries real opens: the Microsoft ranges judge clicks only.
        (hit(ip="40.107.22.5"), ("human", "")),
        # Nobody reads that fast.
        (hit("click", after=CLICK_MIN_DELAY - 1), ("machine", "too_soon")),
        (hit(after=1), ("machine", "too_soon")),
        (hit("click", after=CLICK_MIN_DELAY + 1), ("human", "")),
    ],
)
def test_rules(event, expected):
    assert classify(event) == expected


def test_a_burst_over_every_link_is_a_machine_and_a_slow_reader_is_not():
    burst = [hit("click", after=HOUR + i * 0.2, link=i) for i in range(3)]
    for event in burst:
        others = [e for e in burst if e is not event]
        assert classify(event, others) == ("machine", "burst")
    # The same three links, a reader opening one every few seconds.
    slow = [hit("click", after=HOUR + i * (BURST_WINDOW + 1), link=i) for i in range(3)]
    assert all(classify(e, slow) == ("human", "") for e in slow)
    # Clicking the same link three times is impatience, not a scan.
    same = [hit("click", after=HOUR + i * 0.1, link=4) for i in range(3)]
    assert all(classify(e, same) == ("human", "") for e in same)
