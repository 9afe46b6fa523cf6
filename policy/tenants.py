"""Who a client is: the tenant behind a login or a trusted network, and its domains."""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass

from conf import Settings, TenantSettings
from policy.passwords import decoy, verify_password


@dataclass(frozen=True)
class Tenant:
    settings: TenantSettings
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
    zone: str = "UTC"  # where its days of quota start: its own time zone, else warmup's

    @property
    def name(self) -> str:
        return self.settings.name

    def owns_domain(self, domain: str) -> bool:
        """Is ``domain`` one of the tenant's sender domains (``*.x`` covers subdomains)?"""
        domain = domain.lower().rstrip(".")
        for allowed in self.settings.sender_domains:
            allowed = allowed.lower()
            if allowed == "*" or allowed == domain:
                return True
            if allowed.startswith("*.") and domain.endswith(allowed[1:]):
                return True
        return False


class Directory:
    """Tenants by username and by client network, built once per configuration."""

    def __init__(self, settings: Settings):
        self.tenants = {
            t.name: Tenant(
                t,
                tuple(ipaddress.ip_network(n, strict=False) for n in t.trusted_networks),
                t.timezone or settings.warmup.timezone,
            )
            for t in settings.tenants
        }
        self._by_user = {
            c.username: (self.tenants[t.name], c.password_hash)
            for t in settings.tenants
            for c in t.credentials
        }
        # scrypt costs tens of milliseconds on purpose; a sender that reconnects for
        # every batch should pay it once per process, not once per connection.
        self._verified: set[bytes] = set()
        first = next(iter(self._by_user.values()), None)
        self._decoy = decoy(first[1] if first is not None else None)

    def by_network(self, address: str) -> Tenant | None:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return None
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
            ip = ip.ipv4_mapped
        for tenant in self.tenants.values():
            if any(ip in net for net in tenant.networks):
                return tenant
        return None

    def authenticate(self, username: str, password: bytes) -> Tenant | None:
        entry = self._by_user.get(username)
        if entry is None:
            verify_password(password, self._decoy)  # as long as a wrong password takes
            return None
        tenant, encoded = entry
        memo = hashlib.sha256(b"\0".join([username.encode(), password, encoded.encode()])).digest()
        if memo in self._verified:
            return tenant
        if verify_password(password, encoded):
            self._verified.add(memo)
            return tenant
        return None

    def is_trusted(self, address: str) -> bool:
        return self.by_network(address) is not None
