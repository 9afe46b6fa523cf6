"""The DNS TXT records a domain must publish for the tenants' DKIM keys.

A key configured for the domain itself publishes at its selector; a tenant's
``domain: "*"`` key signs as each From domain, so it must be published under
every sender domain of that tenant too. The values come from the key files,
through the same code as ``sluice dkim-keygen`` (policy.dkim_dns).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from conf import Settings, TenantSettings
from policy import dkim_dns

ReadKey = Callable[[str], bytes]


def _read(path: str) -> bytes:
    return Path(path).read_bytes()


def normalise(domain: str) -> str:
    return domain.strip().rstrip(".").lower()


def known_domains(settings: Settings) -> list[str]:
    """Every domain some key publishes under, sorted."""
    out: set[str] = set()
    for tenant in settings.tenants:
        for entry in tenant.dkim:
            if entry.domain == "*":
                out |= {normalise(d) for d in tenant.sender_domains if "*" not in d}
            else:
                out.add(normalise(entry.domain))
    return sorted(out)


def records(settings: Settings, domain: str, read: ReadKey = _read) -> list[dict[str, Any]]:
    """One record per (selector, key) publishing under ``domain``, sorted by selector."""
    domain = normalise(domain)
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for tenant in settings.tenants:
        for entry in tenant.dkim:
            if entry.domain == "*":
                if not _sends_as(tenant, domain):
                    continue
            elif normalise(entry.domain) != domain:
                continue
            key = (entry.selector, entry.key_file)
            if key not in found:
                found[key] = _record(domain, entry.selector, entry.key_file, read)
                found[key]["tenants"] = []
            found[key]["tenants"].append(tenant.name)
    return [found[k] for k in sorted(found)]


def _sends_as(tenant: TenantSettings, domain: str) -> bool:
    """Whether ``domain`` is one of the tenant's sender domains (a "*" key signs as it)."""
    for pattern in tenant.sender_domains:
        pattern = normalise(pattern)
        if pattern in ("*", domain) or (pattern.startswith("*.") and domain.endswith(pattern[1:])):
            return True
    return False


def _record(domain: str, selector: str, path: str, read: ReadKey) -> dict[str, Any]:
    name = dkim_dns.record_name(selector, domain)
    out: dict[str, Any] = {"selector": selector, "name": name, "type": "TXT", "key_file": path}
    try:
        key = dkim_dns.parse_private_key(read(path))
    except FileNotFoundError:
        return out | {"error": f"{path}: key file not found (sluice dkim-keygen makes one)"}
    except OSError as exc:
        return out | {"error": f"{path}: cannot read the key file ({exc.strerror})"}
    except ValueError as exc:
        return out | {"error": f"{path}: {exc}"}
    value = dkim_dns.public_txt(key)
    return out | {
        "key_type": dkim_dns.key_type(key),
        "value": value,
        "strings": dkim_dns.txt_strings(value),
        "zone": dkim_dns.zone_line(name, value),
    }
