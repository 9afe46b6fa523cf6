"""Who is asking: bearer tokens with roles, login sessions, and a brake on guessing.

Tokens live in the configuration as SHA-256 digests; a presented token is
hashed and compared in constant time. The status page trades a token for a
session cookie (server-side, with its own CSRF secret), so the token never
sits in the browser.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections import OrderedDict, deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from conf import AdminToken

ROLES = ("viewer", "operator", "admin")  # each can do what the ones before it can


@dataclass(frozen=True)
class Principal:
    name: str
    role: str

    def can(self, role: str) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> tuple[str, str]:
    """A fresh bearer token and the digest to put in ``http.admin_tokens``."""
    token = secrets.token_urlsafe(32)
    return token, digest(token)


def authenticate(tokens: Sequence[AdminToken], presented: str) -> Principal | None:
    wanted = digest(presented)
    found = None
    for token in tokens:  # every entry is compared: the time says nothing about which matched
        if hmac.compare_digest(wanted, token.token_sha256):
            found = Principal(token.name, token.role)
    return found


@dataclass
class FailureLimiter:
    """After ``limit`` failures within ``lockout`` seconds a client waits out the window.

    Bounded: the clients seen longest ago are forgotten first.
    """

    limit: int
    lockout: float
    max_clients: int = 10_000
    _failures: OrderedDict[str, deque[float]] = field(default_factory=OrderedDict)

    def retry_after(self, client: str, now: float | None = None) -> float:
        """Seconds the client must wait before its next try; 0 when it may try now."""
        now = time.monotonic() if now is None else now
        times = self._failures.get(client)
        if times is None:
            return 0.0
        while times and times[0] <= now - self.lockout:
            times.popleft()
        if not times:
            del self._failures[client]
            return 0.0
        return times[0] + self.lockout - now if len(times) >= self.limit else 0.0

    def failed(self, client: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        times = self._failures.setdefault(client, deque(maxlen=self.limit))
        times.append(now)
        self._failures.move_to_end(client)
        while len(self._failures) > self.max_clients:
            self._failures.popitem(last=False)

    def succeeded(self, client: str) -> None:
        self._failures.pop(client, None)


@dataclass(frozen=True)
class Session:
    principal: Principal
    csrf: str  # sent back in every form; a cross-site page cannot read it
    expires: float


@dataclass
class Sessions:
    """Status-page logins, in memory: a restart asks everyone to log in again."""

    ttl: float
    max_sessions: int = 10_000
    _by_id: OrderedDict[str, Session] = field(default_factory=OrderedDict)

    def start(self, principal: Principal, now: float | None = None) -> tuple[str, Session]:
        now = time.time() if now is None else now
        sid = secrets.token_urlsafe(32)
        session = Session(principal, secrets.token_urlsafe(24), now + self.ttl)
        self._by_id[sid] = session
        while len(self._by_id) > self.max_sessions:
            self._by_id.popitem(last=False)
        return sid, session

    def get(self, sid: str, now: float | None = None) -> Session | None:
        now = time.time() if now is None else now
        session = self._by_id.get(sid)
        if session is None:
            return None
        if session.expires <= now:
            del self._by_id[sid]
            return None
        return session

    def end(self, sid: str) -> None:
        self._by_id.pop(sid, None)
