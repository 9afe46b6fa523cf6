"""A posted prospect: its checks, its flags, its place in the batch and in the store.

``parse`` turns one posted item into a Prospect (a Contact with its source, the
site's domain and its flags) or the reason it is invalid. ``dedupe`` answers the
second item of an email or a site domain already seen in the batch as a
duplicate. ``merge`` says what a posted prospect does to the row it meets:
created, updated (its fields changed: decided again unless already enrolled) or
unchanged (the same fingerprint: nothing is written, so a batch posted twice
enrolls nobody twice).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from policy.scenarios.contacts import Contact, given
from policy.scenarios.contacts import parse as parse_contact

MAX_BATCH = 500
ITEM_FIELDS = (
    "email", "domain", "name", "first_name", "last_name", "category", "language", "country",
    "tier", "score", "custom", "source",
)  # fmt: skip
# Where a prospect is in auto-enrollment: ready (to decide, or held by a throttle),
# enrolled, dry_run (would have been: decided again once dry run is off), blocked
# (a rule failed: decided again when posted changed or the settings change), failed.
STATUSES = ("ready", "enrolled", "dry_run", "blocked", "failed")
# What the MX lookup found: ok (an MX record), none (the domain or its MX does not
# exist: invalid), unknown (no answer within the budget: kept, unverified).
MX_OK, MX_NONE, MX_UNKNOWN = "ok", "none", "unknown"

# Mailboxes of a function, not a person: flagged, and not enrolled unless allowed.
ROLE_LOCALS = frozenset(
    "admin administrator billing contact contacts enquiries hello help hostmaster info "
    "inquiries jobs mail marketing media news newsletter no-reply noreply office postmaster "
    "press privacy sales security service support team webmaster".split()
)
# Throwaway mailbox services: flagged, never enrolled. A small list kept as data.
DISPOSABLE_DOMAINS = frozenset(
    "10minutemail.com 20minutemail.com discard.email dispostable.com emailondeck.com "
    "fakeinbox.com getairmail.com getnada.com guerrillamail.com guerrillamail.net "
    "guerrillamailblock.com maildrop.cc mailinator.com mailnesia.com mintemail.com "
    "mohmal.com moakt.com sharklasers.com spamgourmet.com temp-mail.org tempail.com "
    "tempmail.com tempmailo.com throwawaymail.com trashmail.com trashmail.de "
    "yopmail.com yopmail.fr yopmail.net".split()
)
_SITE = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


@dataclass(frozen=True)
class Prospect:
    contact: Contact
    given: frozenset[str]  # the contact fields the item named (an update changes only these)
    site: str  # the prospect's own domain ("" when not given), deduplicated per batch
    role: bool
    disposable: bool
    fingerprint: str  # sha256 of the item as read: the same item twice is unchanged

    @property
    def email(self) -> str:
        return self.contact.email


@dataclass(frozen=True)
class ProspectRow:
    """A prospect as stored, beside its contact."""

    tenant: str
    email: str
    site: str
    source: str
    fingerprint: str
    mx: str  # ok | none | unknown
    role: bool
    disposable: bool
    status: str = "ready"
    reason: str = ""
    scenario: str = ""
    attempts: int = 0
    created: float = 0.0
    updated: float = 0.0
    decided: float | None = None


@dataclass(frozen=True)
class ItemResult:
    index: int
    email: str
    result: str  # created | updated | unchanged | invalid | duplicate
    reason: str = ""


def site_of(raw: Any) -> str:
    """A site's domain as stored: lower-case, no scheme, path or www."""
    if not isinstance(raw, str):
        raise ValueError("domain: must be text")
    text = raw.strip().lower()
    text = re.sub(r"^[a-z]+://", "", text).split("/", 1)[0].split(":", 1)[0].rstrip(".")
    text = text.removeprefix("www.")
    try:
        text = text.encode("idna").decode("ascii")
    except UnicodeError:
        raise ValueError(f"domain: {raw!r} is not a domain name") from None
    if not _SITE.match(text):
        raise ValueError(f"domain: {raw!r} is not a domain name")
    return text


def _contact_item(item: Mapping[str, Any], source: str, site: str) -> dict[str, Any]:
    out = {k: v for k, v in item.items() if k not in ("domain", "name")}
    custom = item.get("custom")
    if site and (custom is None or isinstance(custom, dict)) and "website" not in (custom or {}):
        out["custom"] = {**(custom or {}), "website": site}  # a fact the first line may use
    name = item.get("name")
    if isinstance(name, str) and name.strip() and not item.get("first_name"):
        first, _, last = name.strip().partition(" ")
        out["first_name"] = first
        if last.strip() and not item.get("last_name"):
            out["last_name"] = last.strip()
    elif name is not None and not isinstance(name, str):
        raise ValueError("name: must be text")
    if not out.get("source"):
        out["source"] = source
    return out


def parse(tenant: str, item: Any, source: str) -> tuple[Prospect | None, str]:
    """The prospect of one posted item, or None and why it is invalid.

    ``source`` is the item's source when it names none (the ingest key's name).
    """
    if not isinstance(item, Mapping):
        return None, "an item is a JSON object"
    unknown = sorted(set(item) - set(ITEM_FIELDS))
    if unknown:
        return None, f"{unknown[0]}: unknown field (known: {', '.join(ITEM_FIELDS)})"
    try:
        site = site_of(item["domain"]) if item.get("domain") not in (None, "") else ""
        fields = _contact_item(item, source, site)
    except ValueError as exc:
        return None, str(exc)
    contact, errors = parse_contact(tenant, fields)
    if contact is None:
        name, text = next(iter(errors.items()))
        return None, f"{name}: {text}"
    local, _, domain = contact.email.rpartition("@")
    return Prospect(
        contact,
        given(fields),
        site,
        role=local.split("+", 1)[0] in ROLE_LOCALS,
        disposable=domain in DISPOSABLE_DOMAINS,
        fingerprint=fingerprint(item, source),
    ), ""


def fingerprint(item: Mapping[str, Any], source: str) -> str:
    text = json.dumps({"item": item, "source": source}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def dedupe(prospects: Sequence[Prospect | None]) -> list[bool]:
    """True for each item that repeats the email or the site domain of one before it."""
    emails: set[str] = set()
    sites: set[str] = set()
    out = []
    for p in prospects:
        if p is None:
            out.append(False)
            continue
        repeat = p.email in emails or (bool(p.site) and p.site in sites)
        out.append(repeat)
        if not repeat:
            emails.add(p.email)
            if p.site:
                sites.add(p.site)
    return out


def row_of(p: Prospect, mx: str, now: float) -> ProspectRow:
    c = p.contact
    return ProspectRow(
        c.tenant, c.email, p.site, c.source, p.fingerprint, mx, p.role, p.disposable,
        created=now, updated=now,
    )  # fmt: skip


def merge(old: ProspectRow | None, new: ProspectRow, now: float) -> tuple[str, ProspectRow]:
    """What a posted prospect does to its stored row: the answer and the row to keep."""
    if old is None:
        return "created", replace(new, created=now, updated=now)
    if old.fingerprint == new.fingerprint and old.mx == new.mx:
        return "unchanged", old
    # Changed: decided again, unless it is already enrolled (never twice).
    again = old.status != "enrolled"
    return "updated", replace(
        new,
        status="ready" if again else old.status,
        reason="" if again else old.reason,
        scenario="" if again else old.scenario,
        attempts=0 if again else old.attempts,
        created=old.created,
        updated=now,
        decided=None if again else old.decided,
    )


@dataclass(frozen=True)
class Decision:
    """What a round of auto-enrollment decided for one prospect."""

    email: str
    status: str  # one of STATUSES
    reason: str = ""
    scenario: str = ""
    attempt: int = 0  # 1 for a failed try (counted: the task gives up after a few)
