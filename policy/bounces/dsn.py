"""RFC 3464 delivery-status fields.

Reads the ``message/delivery-status`` body (or DSN-style field lines found in
plain text, as some MTAs write them) into one record per recipient.  The
parser is lenient about the blank lines that should separate the
per-message block from the per-recipient blocks: a new recipient block
starts whenever a recipient field repeats.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_FIELD_RE = re.compile(r"^([A-Za-z][A-Za-z0-9-]{1,40})[ \t]*:[ \t]*(.*)$")
# A quoted local part ("a..b"@example.org) is kept with its quotes.
_ADDR_RE = re.compile(
    r"(?:\"[^\"\s<>]{1,64}\"|[^\s<>\"'(),;:\[\]]+)@[A-Za-z0-9][A-Za-z0-9.-]*[A-Za-z0-9]"
)

_REPEAT_SPLITS = frozenset(
    {"final-recipient", "original-recipient", "action", "status", "diagnostic-code"}
)
_RECIPIENT_FIELDS = ("final-recipient", "original-recipient", "x-actual-recipient")
_KNOWN = frozenset(
    {
        "final-recipient",
        "original-recipient",
        "x-actual-recipient",
        "action",
        "status",
        "remote-mta",
        "diagnostic-code",
        "last-attempt-date",
        "will-retry-until",
        "final-log-id",
        "x-supplementary-info",
        "x-display-name",
        "reporting-mta",
        "received-from-mta",
        "arrival-date",
        "original-envelope-id",
        "x-postfix-queue-id",
        "x-postfix-sender",
        "dsn-gateway",
        "x-original-message-id",
    }
)


@dataclass
class DsnRecord:
    recipient: str = ""
    original_recipient: str = ""
    actual_recipient: str = ""
    action: str = ""
    status: str = ""
    remote_mta: str = ""
    diagnostic: str = ""
    diagnostic_type: str = ""


def address_in(value: str) -> str:
    """The address in a DSN address field (``rfc822; <a@b>``), lowercased."""
    if not value:
        return ""
    v = value.strip()
    if ";" in v:
        head, rest = v.split(";", 1)
        if "@" not in head:
            v = rest
    m = _ADDR_RE.search(v)
    if not m:
        return ""
    addr = m.group(0).strip(".").lower()
    if addr.startswith("mailto:"):
        addr = addr[7:]
    return addr


def _fields(text: str) -> list[tuple[str, str]]:
    """Field lines with continuations unfolded; ``("", "")`` marks a blank line."""
    out: list[tuple[str, str]] = []
    last_known = False
    for line in text.split("\n"):
        if not line.strip():
            if out and out[-1][0]:
                out.append(("", ""))
            last_known = False
            continue
        if line[0] in " \t":
            if out and last_known:
                k, v = out[-1]
                out[-1] = (k, v + " " + line.strip())
            continue
        m = _FIELD_RE.match(line)
        if m:
            name = m.group(1).lower()
            last_known = name in _KNOWN
            if last_known:
                out.append((name, m.group(2).strip()))
        else:
            last_known = False
    return out


def _group(fields: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    """Split fields into per-recipient groups.  A group normally is one
    blank-line separated block, but some MTAs omit the blank lines (then a
    repeated field starts a new group) and some put Action and Status
    before the recipient fields (then the block still holds them)."""
    groups: list[list[tuple[str, str]]] = []
    cur: list[tuple[str, str]] = []
    seen: set[str] = set()
    for name, value in fields:
        if name == "":
            if cur:
                groups.append(cur)
            cur, seen = [], set()
            continue
        if name in _REPEAT_SPLITS:
            if name in seen:
                groups.append(cur)
                cur, seen = [], set()
            seen.add(name)
        cur.append((name, value))
    if cur:
        groups.append(cur)
    return groups


def parse_fields(text: str) -> tuple[dict[str, str], list[DsnRecord]]:
    """Return the per-message fields and per-recipient records of ``text``."""
    per_message: dict[str, str] = {}
    records: list[DsnRecord] = []
    for group in _group(_fields(text)):
        if not any(n in _RECIPIENT_FIELDS for n, _ in group):
            for name, value in group:
                if name in _KNOWN:
                    per_message.setdefault(name, value)
            continue
        cur = DsnRecord()
        for name, value in group:
            if name == "final-recipient":
                cur.recipient = cur.recipient or address_in(value)
            elif name == "original-recipient":
                cur.original_recipient = cur.original_recipient or address_in(value)
            elif name == "x-actual-recipient":
                cur.actual_recipient = cur.actual_recipient or address_in(value)
            elif name == "action":
                if not cur.action and value.strip():
                    cur.action = value.strip().lower().split()[0]
            elif name == "status":
                cur.status = cur.status or value.strip()
            elif name == "remote-mta":
                cur.remote_mta = cur.remote_mta or value.split(";", 1)[-1].strip()
            elif name == "diagnostic-code" and not cur.diagnostic:
                dtype, sep, rest = value.partition(";")
                if sep and len(dtype) < 20:
                    cur.diagnostic_type = dtype.strip().lower()
                    cur.diagnostic = rest.strip()
                else:
                    cur.diagnostic = value.strip()
        if not cur.recipient or (
            cur.original_recipient and "." not in cur.recipient.rsplit("@", 1)[-1]
        ):
            # An internal routing name ("user@server") is no use to the sender.
            cur.recipient = cur.original_recipient or cur.actual_recipient
        if cur.recipient:
            records.append(cur)
    return per_message, records


def has_dsn_fields(text: str) -> bool:
    low = text[:200_000].lower()
    return ("final-recipient:" in low or "original-recipient:" in low) and (
        "status:" in low or "action:" in low or "diagnostic-code:" in low
    )
