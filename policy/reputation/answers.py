"""Reading a DNS blocklist's answer, and its canary.

Peers get this wrong (pydnsbl #27, Haraka #3106, mox #354): they count any A
record as a listing, so a Spamhaus "you asked through a public resolver"
(127.255.255.254) quarantines every IP. Here only an answer inside
127.0.0.0/8 that the list documents as a listing is one; its documented
errors, anything else (a resolver's rewrite, a Pi-hole's 0.0.0.0) and a
failed query are recorded as what they are and never act.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from enum import StrEnum

from conf.schema.reputation import DnsList, code_range

LOOPBACK = ipaddress.IPv4Network("127.0.0.0/8")


class Status(StrEnum):
    CLEAN = "clean"  # NXDOMAIN or no A record: not listed
    LISTED = "listed"  # a documented listing code
    POLICY = "policy"  # listed for policy, not abuse (Spamhaus PBL): never acts
    ERROR = "error"  # a documented error code, a timeout, a SERVFAIL
    UNKNOWN = "unknown"  # an answer the list does not document


@dataclass(frozen=True)
class Reading:
    status: Status
    answer: str  # the A records, or what went wrong

    @property
    def counts(self) -> bool:
        """Whether this reading says anything about the target (errors say nothing)."""
        return self.status in (Status.CLEAN, Status.LISTED, Status.POLICY)

    @property
    def listed(self) -> bool:
        return self.status is Status.LISTED


def _within(code: int, specs: tuple[str, ...]) -> bool:
    return any(lo <= code <= hi for lo, hi in map(code_range, specs))


def classify(dnslist: DnsList, address: str) -> Status:
    """What one A record from `dnslist` means."""
    try:
        ip = ipaddress.IPv4Address(address)
    except ValueError:
        return Status.UNKNOWN
    if ip not in LOOPBACK:
        return Status.UNKNOWN
    code = int(ip)
    # Errors first: a list whose listed range is written wide must still not
    # read its own error code as a listing.
    if _within(code, dnslist.errors):
        return Status.ERROR
    if _within(code, dnslist.policy):
        return Status.POLICY
    if _within(code, dnslist.listed):
        return Status.LISTED
    return Status.UNKNOWN


# With several A records, the worst one that is not a listing wins over a
# listing: an answer mixing a listing and an error is not trusted.
_RANK = {Status.ERROR: 4, Status.UNKNOWN: 3, Status.LISTED: 2, Status.POLICY: 1, Status.CLEAN: 0}


def read(dnslist: DnsList, addresses: list[str]) -> Reading:
    """The reading of an answer: its A records (empty for NXDOMAIN or no data)."""
    if not addresses:
        return Reading(Status.CLEAN, "")
    statuses = [classify(dnslist, a) for a in addresses]
    worst = max(statuses, key=_RANK.__getitem__)
    return Reading(worst, ",".join(sorted(addresses)))


def failed(why: str) -> Reading:
    """A query that got no answer (timeout, SERVFAIL, refused)."""
    return Reading(Status.ERROR, why)


def canary(positive: Reading, negative: Reading) -> str | None:
    """Why a list failed its RFC 5782 test points this cycle, or None when it passed."""
    if negative.status is not Status.CLEAN:
        if negative.listed or negative.status is Status.UNKNOWN:
            return f"lists its negative test point ({negative.answer}): it lists the world"
        return f"negative test point: {negative.status.value} ({negative.answer})"
    if not positive.listed:
        shown = positive.answer or "not listed"
        return f"positive test point: {positive.status.value} ({shown})"
    return None
