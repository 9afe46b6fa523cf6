"""Kill switches: stop a tenant's (or everyone's) mail, or divert it to the outbox.

A switch is a row in the store; every gateway process mirrors the rows and
checks them per transaction, so flipping one takes effect everywhere within
one refresh interval. An IP's own pause is its state (policy.quota.ipstate), not a
switch: the IP leaves rotation and the rest of the pool carries on.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field

KINDS = ("pause", "dry_run")
GLOBAL = ""  # the target of a switch that applies to every tenant


class SwitchError(ValueError):
    """A switch that cannot be set as asked."""


@dataclass(frozen=True)
class Switch:
    kind: str  # pause | dry_run
    target: str  # a tenant's name, or GLOBAL
    reason: str = ""
    actor: str = ""
    at: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise SwitchError(f"switch kind {self.kind!r} is not one of {', '.join(KINDS)}")

    @property
    def key(self) -> tuple[str, str]:
        return (self.kind, self.target)

    def describe(self) -> str:
        """How replies and the CLI name it: 'tenant acme pause switch (by ops: outage)'."""
        scope = "global" if self.target == GLOBAL else f"tenant {self.target}"
        why = f"{self.actor}: {self.reason}" if self.reason else self.actor
        return f"{scope} {self.kind.replace('_', '-')} switch" + (f" (by {why})" if why else "")


def active(switches: Mapping[tuple[str, str], Switch], kind: str, tenant: str) -> Switch | None:
    """The switch of `kind` in force for `tenant`: the global one first."""
    return switches.get((kind, GLOBAL)) or switches.get((kind, tenant))
