"""Everything a transaction needs that is built from one configuration.

A SIGHUP builds a new Runtime and swaps it in; a transaction keeps the one
it started with, so a reload never mixes two configurations in one message.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from conf import ConfigError, Settings
from gateway import dkim
from gateway.outbox import OutboxSink
from policy.counters import CounterStore
from policy.counters.memory import MemoryCounters
from policy.counters.redis import RedisCounters
from policy.events import Recorder
from policy.providers import ProviderResolver
from policy.providers import from_settings as providers_from_settings
from policy.quota.selection import Planner
from policy.tenants import Directory
from policy.view import PolicyView


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    directory: Directory
    planner: Planner
    # (domain pattern, key) per tenant; the pattern "*" signs as any From domain.
    keys: dict[str, tuple[tuple[str, dkim.DkimKey], ...]]
    downstream: Any  # gateway.downstream.SmtpDownstream | OutboxSink
    recorder: Recorder | None = None
    # Per process, not per configuration: reservations outlive a reload.
    counters: CounterStore = field(default_factory=MemoryCounters)
    providers: ProviderResolver | None = None  # None: every recipient is "other"
    clock: Callable[[], datetime] = utc_now
    # Per process: the mirror of switches, IP states and suppression (policy.view).
    policy: PolicyView = field(default_factory=PolicyView)
    dry_run_outbox: OutboxSink = field(default_factory=lambda: OutboxSink("var/dry-run"))
    # Per process: where a message waits while the next hop cannot take it (None: off).
    spool: Any = None  # gateway.spool.Spool

    def dkim_keys(self, tenant: str, from_domain: str) -> list[dkim.DkimKey]:
        """The tenant's keys whose d= aligns with the header From domain."""
        out = []
        for pattern, key in self.keys.get(tenant, ()):
            if pattern == "*":
                out.append(replace(key, domain=from_domain))
            elif from_domain == pattern or from_domain.endswith("." + pattern):
                out.append(key)
        return out


def load_keys(settings: Settings) -> dict[str, tuple[tuple[str, dkim.DkimKey], ...]]:
    """Read every tenant's DKIM keys, creating those marked ``generate`` when missing."""
    problems = []
    # (domain pattern, key) per tenant; the pattern "*" signs as any From domain.
    keys: dict[str, tuple[tuple[str, dkim.DkimKey], ...]] = {}
    for i, tenant in enumerate(settings.tenants):
        loaded = []
        for j, entry in enumerate(tenant.dkim):
            path = Path(entry.key_file)
            if entry.generate and not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                private_pem, _ = dkim.generate_key(entry.generate)
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as f:
                    f.write(private_pem)
            # A wildcard key is loaded under a reserved domain and re-labelled per message.
            domain = "wildcard.invalid" if entry.domain == "*" else entry.domain
            try:
                loaded.append((entry.domain, dkim.load_key(path, domain, entry.selector)))
            except dkim.DkimKeyError as exc:
                problems.append(f"tenants[{i}].dkim[{j}].key_file: {exc}")
        keys[tenant.name] = tuple(loaded)
    if problems:
        raise ConfigError("dkim keys", problems)
    return keys


def open_counters(settings: Settings) -> CounterStore:
    """Shared counters in Redis when it is configured, else in this process."""
    if settings.redis is None:
        return MemoryCounters()
    return RedisCounters.from_url(
        settings.redis, prefix=settings.redis_prefix, socket_timeout=settings.redis_timeout
    )


def build(
    settings: Settings,
    downstream: Any,
    recorder: Recorder | None = None,
    *,
    counters: CounterStore | None = None,
    providers: ProviderResolver | None = None,
    clock: Callable[[], datetime] = utc_now,
    policy: PolicyView | None = None,
    spool: Any = None,
) -> Runtime:
    """A runtime for `settings`; the daemon passes the counters and resolver it keeps."""
    return Runtime(
        settings=settings,
        directory=Directory(settings),
        planner=Planner(settings.warmup),
        keys=load_keys(settings),
        downstream=downstream,
        recorder=recorder,
        counters=counters if counters is not None else open_counters(settings),
        providers=providers or providers_from_settings(settings.warmup),
        clock=clock,
        policy=policy if policy is not None else PolicyView(),
        dry_run_outbox=OutboxSink(settings.downstream.dry_run_outbox),
        spool=spool,
    )
