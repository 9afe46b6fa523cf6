"""A tenant's contacts: who a scenario may write to, with what it knows of them.

One row per (tenant, email). ``parse`` turns an API item or a CSV row into a
Contact, or into every field's error at once (the API names the index and
field, the CSV import the row and column). ``matches`` is the recipient
filter of a scenario, stated once in Python; the store's SQL filter agrees
with it (a contract test checks both against the same contacts).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

CONTACT_STATUSES = ("active", "do_not_contact")
FIELDS = (
    "email", "first_name", "last_name", "language", "country", "category", "tier", "score",
    "validation_score", "deliverable", "timezone", "custom", "tags", "status", "source",
)  # fmt: skip
_LOCAL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}$")
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_TAG = re.compile(r"^[\w.:-]{1,64}$")
MAX_TEXT = 200


@dataclass(frozen=True)
class Contact:
    tenant: str
    email: str  # normalised: normalise_email()
    first_name: str = ""
    last_name: str = ""
    language: str = ""  # lower-case ISO 639-1, "" unknown
    country: str = ""  # upper-case ISO 3166-1 alpha-2, "" unknown
    category: str = ""
    tier: int | None = None
    score: float | None = None
    validation_score: float | None = None
    deliverable: bool | None = None
    timezone: str = ""  # IANA name, "" unknown
    custom: Mapping[str, Any] = field(default_factory=dict)  # a JSON object
    tags: tuple[str, ...] = ()
    status: str = "active"
    source: str = ""
    created: float = 0.0
    updated: float = 0.0

    @property
    def domain(self) -> str:
        return self.email.rpartition("@")[2]


@dataclass(frozen=True)
class ContactFilter:
    """Also a scenario's recipient filter: every condition given must hold."""

    tags: tuple[str, ...] = ()  # the contact has all of them
    languages: tuple[str, ...] = ()
    countries: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    min_score: float | None = None
    min_validation_score: float | None = None
    deliverable_only: bool = False
    excluded_domains: tuple[str, ...] = ()
    status: str | None = "active"


def normalise_email(raw: str) -> str:
    """The address as stored: trimmed, lower-case, the domain in its ASCII (IDNA) form."""
    text = raw.strip().lower()
    local, at, domain = text.rpartition("@")
    if not at or not local or not domain:
        raise ValueError(f"{raw!r} is not an address (local@domain)")
    if not _LOCAL.match(local) or local.startswith(".") or ".." in local:
        raise ValueError(f"{raw!r}: the part before @ is not a plain address")
    try:
        domain = domain.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise ValueError(f"{raw!r}: {domain!r} is not a domain name") from exc
    labels = domain.split(".")
    if len(labels) < 2 or not all(_LABEL.match(x) for x in labels) or len(domain) > 253:
        raise ValueError(f"{raw!r}: {domain!r} is not a domain name")
    return f"{local}@{domain}"


def matches(c: Contact, f: ContactFilter) -> bool:
    """True when ``c`` passes every condition of ``f``."""
    checks = (
        f.status is None or c.status == f.status,
        set(f.tags) <= set(c.tags),
        not f.languages or c.language in f.languages,
        not f.countries or c.country in f.countries,
        not f.categories or c.category in f.categories,
        f.min_score is None or (c.score is not None and c.score >= f.min_score),
        f.min_validation_score is None
        or (c.validation_score is not None and c.validation_score >= f.min_validation_score),
        not f.deliverable_only or c.deliverable is True,
        c.domain not in f.excluded_domains,
    )
    return all(checks)


def given(item: Mapping[str, Any]) -> frozenset[str]:
    """The fields an item names with a value: an update changes only these."""
    return frozenset(k for k, v in item.items() if k in FIELDS and v not in (None, ""))


def parse(tenant: str, item: Mapping[str, Any]) -> tuple[Contact | None, dict[str, str]]:
    """A Contact from an API item or a CSV row, or None and each bad field's reason."""
    errors: dict[str, str] = {}
    unknown = sorted(set(item) - set(FIELDS))
    for name in unknown:
        errors[name] = f"unknown field (known: {', '.join(FIELDS)})"
    values: dict[str, Any] = {}
    for name, read in _READERS.items():
        raw = item.get(name)
        if raw is None or raw == "":
            continue
        try:
            values[name] = read(raw)
        except (TypeError, ValueError) as exc:
            errors[name] = str(exc)
    if "email" not in values and "email" not in errors:
        errors["email"] = "required"
    if errors:
        return None, errors
    return Contact(tenant=tenant, **values), {}


def _text(raw: Any) -> str:
    if not isinstance(raw, str):
        raise TypeError("must be text")
    text = raw.strip()
    if len(text) > MAX_TEXT or any(ch in text for ch in "\r\n\0"):
        raise ValueError(f"at most {MAX_TEXT} characters on one line")
    return text


def _language(raw: Any) -> str:
    text = _text(raw).lower()
    if not re.fullmatch(r"[a-z]{2}", text):
        raise ValueError(f"{raw!r} is not a two-letter language code (ISO 639-1), e.g. fr")
    return text


def _country(raw: Any) -> str:
    text = _text(raw).upper()
    if not re.fullmatch(r"[A-Z]{2}", text):
        raise ValueError(f"{raw!r} is not a two-letter country code (ISO 3166-1), e.g. FR")
    return text


def _timezone(raw: Any) -> str:
    text = _text(raw)
    try:
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"{raw!r} is not a time zone name, e.g. Europe/Paris") from exc
    return text


def _tier(raw: Any) -> int:
    if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
        raise ValueError("must be a whole number from 0 to 10")
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise ValueError(f"{raw!r} is not a whole number from 0 to 10") from None
    if not 0 <= value <= 10:
        raise ValueError("must be a whole number from 0 to 10")
    return value


def _score(raw: Any) -> float:
    if isinstance(raw, bool):
        raise ValueError("must be a number from 0 to 100")
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise ValueError(f"{raw!r} is not a number from 0 to 100") from None
    if math.isnan(value) or not 0 <= value <= 100:
        raise ValueError("must be a number from 0 to 100")
    return value


def _boolean(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in ("true", "yes", "1"):
        return True
    if text in ("false", "no", "0"):
        return False
    raise ValueError("must be true or false")


def _custom(raw: Any) -> dict[str, Any]:
    value = json.loads(raw) if isinstance(raw, str) else raw
    if not isinstance(value, dict):
        raise ValueError("must be a JSON object")
    if len(json.dumps(value)) > 16_384:
        raise ValueError("at most 16 KB of JSON")
    return value


def _tags(raw: Any) -> tuple[str, ...]:
    items = raw.replace(";", ",").split(",") if isinstance(raw, str) else raw
    if not isinstance(items, list | tuple):
        raise TypeError("must be a list of tags (or comma-separated text)")
    tags = tuple(dict.fromkeys(str(t).strip().lower() for t in items if str(t).strip()))
    bad = [t for t in tags if not _TAG.match(t)]
    if bad:
        raise ValueError(f"not a tag (letters, digits, . : - _): {bad[0]!r}")
    return tags


def _status(raw: Any) -> str:
    text = _text(raw).lower()
    if text not in CONTACT_STATUSES:
        raise ValueError(f"must be one of {', '.join(CONTACT_STATUSES)}")
    return text


_READERS = {
    "email": lambda raw: normalise_email(_text(raw)),
    "first_name": _text,
    "last_name": _text,
    "language": _language,
    "country": _country,
    "category": lambda raw: _text(raw).lower(),
    "tier": _tier,
    "score": _score,
    "validation_score": _score,
    "deliverable": _boolean,
    "timezone": _timezone,
    "custom": _custom,
    "tags": _tags,
    "status": _status,
    "source": _text,
}
