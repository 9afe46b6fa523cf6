"""What a mailbox provider last said about one of our IPs or domains, as stored. Pure.

One row per source and target, replaced by each fetch: ``snds`` (an IP; status
GREEN, YELLOW, RED, BLOCKED when inside a blocked range, NO DATA) and ``postmaster``
(a domain; status OK or OVER the spam limit, detail the rate and reputation).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ProviderFinding:
    source: str  # snds | postmaster
    target: str  # an IP (snds) or a domain (postmaster)
    day: str  # the provider's day, as it gives it
    status: str
    detail: str
    fetched_at: float
