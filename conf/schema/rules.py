"""The value rules of settings fields, as annotated types.

Each rule is a check that returns an error text or None; ``rule()`` turns it
into a pydantic validator that runs once the value has the right type. The
texts are the ones ``sluice check-config`` prints after the key path.
"""

from __future__ import annotations

import ipaddress
import re
import urllib.parse
import zoneinfo
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, Field

HOSTPORT = re.compile(r"^(?:\[(?P<v6>[0-9a-fA-F:.]+)\]|(?P<host>[^:\[\]]+)):(?P<port>\d{1,5})$")
DOMAIN = re.compile(r"^(?=.{1,253}$)(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))*$")
HOSTNAME = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9_]([A-Za-z0-9_-]*)(\.[A-Za-z0-9_]([A-Za-z0-9_-]*))*\.?$"
)
HEADER_NAME = re.compile(r"^[!-9;-~]+$")
# A host (or [IPv6]), an optional port and path: it goes into HTML attributes unescaped.
TRACKING_BASE = re.compile(
    r"^https?://(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?(?:/[A-Za-z0-9._~%/-]*)?$"
)
FEEDBACK_FIELD = re.compile(r"^[A-Za-z0-9._-]*$")
MAILWIZZ_UID = re.compile(r"^[a-z0-9]{1,64}$")


def split_hostport(value: str) -> tuple[str, int]:
    match = HOSTPORT.match(value)
    if not match:
        raise ValueError(value)
    return match["v6"] or match["host"], int(match["port"])


def rule(check: Callable[[Any], str | None]) -> AfterValidator:
    """A validator that refuses a value with the text ``check`` returns for it."""

    def validate(value: Any) -> Any:
        problem = check(value)
        if problem:
            raise ValueError(problem)
        return value

    return AfterValidator(validate)


def _hostport(value: str) -> str | None:
    try:
        _, port = split_hostport(value)
    except ValueError:
        return 'must be "host:port" (for IPv6 "[::1]:port")'
    return None if 0 <= port < 65536 else "port must be 0-65535"


def _port(value: int) -> str | None:
    return None if 0 < value < 65536 else "must be 1-65535"


def _network(value: str) -> str | None:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return "not an IP network (e.g. 10.0.0.0/8 or 2001:db8::/32)"
    return None


def _networks(values: tuple[str, ...]) -> str | None:
    bad = [v for v in values if _network(v)]
    return f"not IP networks: {', '.join(bad)}" if bad else None


def _ip(value: str) -> str | None:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return "not an IP address"
    return None


def _domains(values: tuple[str, ...]) -> str | None:
    bad = [v for v in values if v != "*" and not DOMAIN.match(v.lower().removeprefix("*."))]
    return f"not domain names: {', '.join(bad)}" if bad else None


def _hostname(value: str) -> str | None:
    # It lands in EHLO, Received: and PowerMTA's smtp-source-host line, where a
    # space splits it into two words.
    literal = value.startswith("[") and value.endswith("]") and _ip(value[1:-1]) is None
    if literal or HOSTNAME.match(value):
        return None
    return "not a host name (letters, digits, '-', '_' and dots; no spaces)"


def _header(value: str) -> str | None:
    return None if HEADER_NAME.match(value) else "not a header field name"


def _existing_file(value: str) -> str | None:
    return None if Path(value).is_file() else "file not found"


def _password_hash(value: str) -> str | None:
    if value.startswith("scrypt$") and value.count("$") == 5:
        return None
    return 'must be an scrypt hash ("sluice hash-password" makes one)'


def _sha256_hex(value: str) -> str | None:
    if re.fullmatch(r"[0-9a-f]{64}", value):
        return None
    return 'must be 64 lowercase hex digits ("sluice hash-token" makes one)'


def _url(*schemes: str) -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        if any(value.startswith(s + "://") for s in schemes):
            return None
        return f"must start with {' or '.join(s + '://' for s in schemes)}"

    return check


def _iso_date(value: str) -> str | None:
    try:
        date.fromisoformat(value)
    except ValueError:
        return 'not a date (write it as "YYYY-MM-DD", e.g. "2026-11-20")'
    return None


def _timezone(value: str) -> str | None:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return 'not an IANA time zone (e.g. "UTC" or "Europe/Paris")'
    return None


def _hours(value: float) -> str | None:
    return None if 0 < value <= 24 else "must be more than 0 and at most 24"


def _share(value: float) -> str | None:
    return None if 0 <= value <= 1 else "must be between 0 and 1"


def _rate(value: float) -> str | None:
    return None if 0 < value <= 1 else "must be a fraction: more than 0 and at most 1"


def _tracking_base(value: str) -> str | None:
    if TRACKING_BASE.match(value):
        return None
    return 'must be a plain http(s) URL, e.g. "https://t.acme-mail.com"'


def _feedback_field(value: str) -> str | None:
    return None if FEEDBACK_FIELD.match(value) else "use letters, digits, '.', '_' and '-'"


def _sender_id(value: str) -> str | None:
    if 5 <= len(value) <= 15 and FEEDBACK_FIELD.match(value):
        return None
    return "Google's SenderId: 5 to 15 letters, digits, '.', '_' or '-'"


def _api_url(value: str) -> str | None:
    parts = urllib.parse.urlsplit(value)
    if parts.scheme in ("http", "https") and parts.netloc and not (parts.query or parts.fragment):
        return None
    return 'must be the http(s) URL of the API, e.g. "https://mw.acme-mail.com/api"'


def _mailwizz_uid(value: str) -> str | None:
    return None if MAILWIZZ_UID.match(value) else "a MailWizz uid: lowercase letters and digits"


PositiveInt = Annotated[int, Field(gt=0)]
PositiveFloat = Annotated[float, Field(gt=0)]
HostPort = Annotated[str, rule(_hostport)]
Port = Annotated[int, rule(_port)]
Network = Annotated[str, rule(_network)]
Networks = Annotated[tuple[str, ...], rule(_networks)]
IpAddress = Annotated[str, rule(_ip)]
Domains = Annotated[tuple[str, ...], rule(_domains)]
HeaderName = Annotated[str, rule(_header)]
HostName = Annotated[str, rule(_hostname)]
ExistingFile = Annotated[str, rule(_existing_file)]
PasswordHash = Annotated[str, rule(_password_hash)]
Sha256Hex = Annotated[str, rule(_sha256_hex)]
WebUrl = Annotated[str, rule(_url("http", "https"))]
DatabaseUrl = Annotated[str, rule(_url("sqlite", "postgresql"))]
RedisUrl = Annotated[str, rule(_url("redis", "rediss", "unix"))]
IsoDate = Annotated[str, rule(_iso_date)]
TimeZone = Annotated[str, rule(_timezone)]
Hours = Annotated[float, rule(_hours)]
Share = Annotated[float, rule(_share)]
Rate = Annotated[float, rule(_rate)]
TrackingBase = Annotated[str, rule(_tracking_base)]
FeedbackField = Annotated[str, rule(_feedback_field)]
SenderId = Annotated[str, rule(_sender_id)]
ApiUrl = Annotated[str, rule(_api_url)]
MailwizzUid = Annotated[str, rule(_mailwizz_uid)]
NotBlank = Annotated[str, rule(lambda v: None if v.strip() else "must not be empty")]
WebhookSecret = Annotated[str, rule(lambda v: None if len(v) >= 16 else "16+ characters")]
