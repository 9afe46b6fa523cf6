"""Microsoft SNDS (Smart Network Data Services) automated access: reading and judging. Pure.

Two CSV files, fetched with the key SNDS gives under "Automated Access":

- ``data.aspx?key=KEY``: one row per IP and activity day, without a header,
  columns in this order: IP address, activity start, activity end, RCPT
  commands, DATA commands, message recipients, filter result (GREEN, YELLOW
  or RED), complaint rate (text such as ``< 0.1%`` or ``1.2%``), trap message
  period start, trap message period end, trap hits, sample HELO, sample MAIL
  FROM, comments.
- ``ipStatus.aspx?key=KEY``: the blocked ranges, one per line,
  ``first_ip,last_ip,Yes,reason`` ("Yes": blocked; reason such as
  ``Blocked due to user complaints or other evidence of spamming``).

Source: the SNDS "Automated Data Access" FAQ
(https://sendersupport.olc.protection.outlook.com/snds/FAQ.aspx), and the
same column order as read by the sndslib client (pypi.org/project/sndslib:
``ip_address, activity_start, activity_end, rcpt_commands, data_commands,
message_recipients, filter_result, complaint_rate, trap_message_start,
trap_message_end, traphits, sample_helo, sample_mailfrom, comments``).

What it means here: a RED day holds the IP's warmup (the feedback health
``hold`` measure); a blocked range covering one of our IPs raises an alert and
does NOT quarantine it by itself: Outlook blocks only Outlook, and the DNSBL
polling and the bounce health already quarantine an IP that is bad
elsewhere, while a quarantine here would stop delivery to every provider.
"""

from __future__ import annotations

import csv
import io
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from policy.alerts import Alert

FILTERS = ("GREEN", "YELLOW", "RED")
DATA_COLUMNS = 14


class SndsFormatError(ValueError):
    """A line that does not follow the documented format (line number in the text)."""


@dataclass(frozen=True)
class SndsDay:
    ip: str
    start: str
    end: str
    rcpt: int
    data: int
    recipients: int
    filter: str  # GREEN | YELLOW | RED
    complaint_rate: str  # as given: "< 0.1%", "1.2%"
    trap_hits: int
    helo: str
    mail_from: str
    comments: str


@dataclass(frozen=True)
class BlockedRange:
    first: str
    last: str
    reason: str

    def covers(self, ip: str) -> bool:
        addr = ipaddress.ip_address(ip)
        first, last = ipaddress.ip_address(self.first), ipaddress.ip_address(self.last)
        return addr.version == first.version and first <= addr <= last  # type: ignore[operator]


def _int(value: str, line: int, name: str) -> int:
    try:
        return int(value.strip() or "0")
    except ValueError:
        raise SndsFormatError(f"line {line}: {name} {value!r} is not a number") from None


def _ip(value: str, line: int) -> str:
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        raise SndsFormatError(f"line {line}: {value!r} is not an IP address") from None


def parse_data(text: str) -> list[SndsDay]:
    """The rows of ``data.aspx``; a malformed row raises SndsFormatError naming its line."""
    days = []
    for n, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        if not row or not "".join(row).strip():
            continue
        if len(row) < DATA_COLUMNS:
            raise SndsFormatError(f"line {n}: {len(row)} columns, {DATA_COLUMNS} expected")
        verdict = row[6].strip().upper()
        if verdict not in FILTERS:
            raise SndsFormatError(f"line {n}: filter result {row[6]!r} is not GREEN/YELLOW/RED")
        days.append(
            SndsDay(
                ip=_ip(row[0], n),
                start=row[1].strip(),
                end=row[2].strip(),
                rcpt=_int(row[3], n, "RCPT commands"),
                data=_int(row[4], n, "DATA commands"),
                recipients=_int(row[5], n, "message recipients"),
                filter=verdict,
                complaint_rate=row[7].strip(),
                trap_hits=_int(row[10], n, "trap hits"),
                helo=row[11].strip(),
                mail_from=row[12].strip(),
                comments=",".join(row[13:]).strip(),
            )
        )
    return days


def parse_status(text: str) -> list[BlockedRange]:
    """The blocked ranges of ``ipStatus.aspx`` (rows whose third field is not "Yes" are skipped)."""
    out = []
    for n, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        if not row or not "".join(row).strip():
            continue
        if len(row) < 3:
            raise SndsFormatError(
                f"line {n}: {len(row)} columns, first_ip,last_ip,Yes,reason expected"
            )
        if row[2].strip().lower() != "yes":
            continue
        out.append(BlockedRange(_ip(row[0], n), _ip(row[1], n), ",".join(row[3:]).strip()))
    return out


def red_ips(days: Iterable[SndsDay], ours: Iterable[str]) -> list[str]:
    """Our IPs with a RED day: their warmup is held."""
    mine = set(ours)
    return sorted({d.ip for d in days if d.filter == "RED" and d.ip in mine})


def blocked_ips(ranges: Iterable[BlockedRange], ours: Iterable[str]) -> dict[str, str]:
    """Our IPs inside a blocked range, with the range's reason."""
    ranges = list(ranges)
    out: dict[str, str] = {}
    for ip in sorted(set(ours)):
        for r in ranges:
            if r.covers(ip):
                out[ip] = r.reason or "blocked"
                break
    return out


def alerts(
    days: Iterable[SndsDay], ranges: Iterable[BlockedRange], ours: Iterable[str], now: float
) -> list[Alert]:
    """One alert per IP and condition (SNDS red, SNDS blocked), firing or resolved.

    Resolved alerts are sent only when the firing one was announced
    (policy.alerts), so every IP of ours not in a condition gets one.
    """
    days, mine = list(days), sorted(set(ours))
    red, blocked = set(red_ips(days, mine)), blocked_ips(ranges, mine)
    out = []
    for ip in mine:
        out.append(
            Alert(
                key=f"snds-red:{ip}",
                firing=ip in red,
                title=f"SNDS: {ip} RED at Outlook" if ip in red else f"SNDS: {ip} no longer RED",
                text="warmup held" if ip in red else "warmup may advance again",
                at=now,
            )
        )
        reason = blocked.get(ip)
        out.append(
            Alert(
                key=f"snds-blocked:{ip}",
                firing=reason is not None,
                title=f"SNDS: {ip} blocked by Outlook" if reason else f"SNDS: {ip} unblocked",
                text=reason or "no longer in a blocked range",
                at=now,
            )
        )
    return out
