"""Addresses a tenant must not mail again, and why.

The store holds the truth; every process keeps a full mirror in memory
(`SuppressionList`) so a RCPT costs one dict lookup. The mirror follows the
store by sequence number: each write takes the next number, a removal is a
write too (a tombstone), so "everything after N" is the whole change.

An entry of tenant "" is on the global list and applies to every tenant.
"""

from __future__ import annotations

import collections
import csv
import io
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TextIO

GLOBAL = ""
REASONS = ("hard_bounce", "soft_bounce", "complaint", "unsubscribe", "manual")
CSV_COLUMNS = ("address", "tenant", "reason", "source", "created_at", "expires_at")
ADDRESS_ALIASES = {"email": "address", "email_address": "address"}


class SuppressionError(ValueError):
    """A suppression entry or CSV row that cannot be taken as it is."""


def normalize(address: str) -> str:
    """The form addresses are stored and looked up in.

    Lowercased whole: local parts are case-sensitive in theory only, and a
    suppression that misses `John@` because `john@` unsubscribed is the worse
    error.
    """
    return address.strip().strip("<>").strip().lower()


@dataclass(frozen=True)
class Suppression:
    tenant: str  # GLOBAL ("") for the list every tenant shares
    address: str
    reason: str  # one of REASONS
    source: str = ""  # what put it there: "dsn", "acct", "link", "cli:alice", ...
    created_at: float = field(default_factory=time.time)
    expires_at: float | None = None  # None: until removed

    def __post_init__(self) -> None:
        object.__setattr__(self, "address", normalize(self.address))
        if self.reason not in REASONS:
            raise SuppressionError(f"reason {self.reason!r} is not one of {', '.join(REASONS)}")
        if "@" not in self.address or " " in self.address:
            raise SuppressionError(f"{self.address!r} is not an email address")
        if self.expires_at is not None and self.expires_at <= self.created_at:
            raise SuppressionError("expires_at must be after created_at")

    def active(self, now: float) -> bool:
        return self.expires_at is None or now < self.expires_at

    def describe(self) -> str:
        """The words a 550 reply and the CLI use."""
        words = {
            "hard_bounce": "hard bounce",
            "soft_bounce": "repeated soft bounces",
            "complaint": "spam complaint",
            "unsubscribe": "unsubscribed",
            "manual": "suppressed by operator",
        }[self.reason]
        scope = "global suppression list" if self.tenant == GLOBAL else "suppression list"
        return f"{words} ({scope})"


@dataclass(frozen=True)
class Removal:
    """A tombstone: the address left the list."""

    tenant: str
    address: str


class SuppressionList:
    """The in-memory mirror: O(1) per lookup, fed by the store's changes."""

    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], Suppression] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def apply(self, changes: Iterable[Suppression | Removal]) -> None:
        for change in changes:
            key = (change.tenant, change.address)
            if isinstance(change, Removal):
                self._entries.pop(key, None)
            else:
                self._entries[key] = change

    def per_tenant(self) -> collections.Counter[str]:
        """Entries per tenant ("" is the global list), expired ones not yet removed included.

        Walks the whole mirror (about 10 ms per 100,000 entries): callers that ask
        often keep the answer until the mirror changes."""
        return collections.Counter(tenant for tenant, _ in self._entries)

    def check(self, tenant: str, address: str, now: float | None = None) -> Suppression | None:
        """The entry that forbids mailing `address` for `tenant`, if any."""
        address = normalize(address)
        now = time.time() if now is None else now
        for key in ((tenant, address), (GLOBAL, address)):
            entry = self._entries.get(key)
            if entry is not None and entry.active(now):
                return entry
        return None


def _iso(ts: float | None) -> str:
    if ts is None:
        return ""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def _timestamp(value: str, column: str) -> float | None:
    value = value.strip()
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise SuppressionError(f"{column}: {value!r} is not an ISO 8601 date or time") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def read_csv(
    stream: TextIO, *, tenant: str, reason: str = "manual", source: str = "import"
) -> list[Suppression]:
    """Entries from a CSV with a header line naming at least `address` (or `email`).

    Other columns (`tenant`, `reason`, `source`, `created_at`, `expires_at`)
    override the defaults row by row. Every bad row is reported at once, by
    line number, and nothing is returned then: an import is all or nothing.
    """
    reader = csv.DictReader(stream)
    try:
        return _read_rows(reader, tenant, reason, source)
    except csv.Error as exc:  # e.g. a field past the csv module's size limit
        # line_num counts the lines read before the one it failed on.
        raise SuppressionError(f"line {reader.line_num + 1}: not CSV: {exc}") from None


def _column(name: str) -> str:
    """A header name as read: case and spaces aside, `email` (MailWizz's and most
    lists' export) is the address."""
    name = name.strip().lower()
    return ADDRESS_ALIASES.get(name, name)


def _read_rows(
    reader: csv.DictReader[str], tenant: str, reason: str, source: str
) -> list[Suppression]:
    columns = [_column(f) for f in reader.fieldnames or ()]
    if "address" not in columns:
        raise SuppressionError("line 1: the header must name an 'address' (or 'email') column")
    if len(set(columns)) != len(columns):
        raise SuppressionError("line 1: a column is named twice (address and email are one)")
    unknown = set(columns) - set(CSV_COLUMNS)
    if unknown:
        raise SuppressionError(
            f"line 1: unknown column(s) {', '.join(sorted(unknown))}"
            f" (known: {', '.join(CSV_COLUMNS)})"
        )
    out, problems = [], []
    for row in reader:
        row = {_column(k): (v or "").strip() for k, v in row.items() if k is not None}
        line = reader.line_num
        try:
            created = _timestamp(row.get("created_at", ""), "created_at") or time.time()
            out.append(
                Suppression(
                    tenant=row.get("tenant") or tenant,
                    address=row["address"],
                    reason=row.get("reason") or reason,
                    source=row.get("source") or source,
                    created_at=created,
                    expires_at=_timestamp(row.get("expires_at", ""), "expires_at"),
                )
            )
        except SuppressionError as exc:
            problems.append(f"line {line}: {exc}")
    if problems:
        raise SuppressionError("\n".join(problems))
    return out


def write_csv(entries: Iterable[Suppression], stream: TextIO) -> int:
    """Entries as CSV, the format `read_csv` takes back; the number written."""
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    count = 0
    for e in entries:
        writer.writerow(
            (e.address, e.tenant, e.reason, e.source, _iso(e.created_at), _iso(e.expires_at))
        )
        count += 1
    return count


def csv_text(entries: Iterable[Suppression]) -> str:
    buffer = io.StringIO()
    write_csv(entries, buffer)
    return buffer.getvalue()
