"""The reputation watch's metrics."""

from __future__ import annotations

from prometheus_client import Gauge, Histogram

from policy.reputation.confirm import Standing

LISTED = Gauge(
    "sluice_blacklist_listed",
    "1 while a sending IP's listing on a DNS blocklist is confirmed, 0 otherwise",
    ["ip", "list"],
    multiprocess_mode="livemostrecent",
)
DOMAIN_LISTED = Gauge(
    "sluice_blacklist_domain_listed",
    "1 while a sending, tracking or bounce domain's listing is confirmed, 0 otherwise",
    ["domain", "list"],
    multiprocess_mode="livemostrecent",
)
CANARY = Gauge(
    "sluice_blacklist_canary_ok",
    "1 when a DNS blocklist passed its RFC 5782 test points in the last cycle, 0 when disabled",
    ["list"],
    multiprocess_mode="livemostrecent",
)
CYCLE_SECONDS = Histogram(
    "sluice_reputation_cycle_seconds",
    "Wall time of one DNS blocklist polling cycle",
    buckets=(0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300),
)


def listed(standing: Standing) -> None:
    gauge = LISTED if standing.kind == "ip" else DOMAIN_LISTED
    gauge.labels(standing.target, standing.zone).set(1 if standing.listed else 0)


SNDS_FILTER = Gauge(
    "sluice_snds_filter",
    "Microsoft SNDS filter result of an IP's last reported day: 0 GREEN, 1 YELLOW, 2 RED",
    ["ip"],
    multiprocess_mode="livemostrecent",
)
SNDS_BLOCKED = Gauge(
    "sluice_snds_blocked",
    "1 while an IP is inside a Microsoft SNDS blocked range, 0 otherwise",
    ["ip"],
    multiprocess_mode="livemostrecent",
)
GMAIL_SPAM_RATIO = Gauge(
    "sluice_gmail_spam_ratio",
    "Gmail Postmaster Tools user-reported spam ratio (0..1) of a domain's last reported day",
    ["domain"],
    multiprocess_mode="livemostrecent",
)

DNS_PROBLEMS = Gauge(
    "sluice_dns_check_problems",
    "Problems the last DNS authentication check found for a domain or IP (SPF, DKIM, DMARC, "
    "PTR, MX, tracking); 0 when it is as expected",
    ["tenant", "target"],
    multiprocess_mode="livemostrecent",
)
