"""The audit log: who changed what, from what to what, and when.

Every mutating admin call writes one entry; ``before`` and ``after`` are
JSON texts of the state the call read and the state it left.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class AuditEntry:
    actor: str  # the token's name
    action: str  # e.g. "ip.pause", "switch.on", "suppression.add", "config.reload"
    target: str  # e.g. "203.0.113.10", "pause:acme", "acme:bob@example.com"
    before: str = "null"  # JSON
    after: str = "null"  # JSON
    at: float = field(default_factory=time.time)
    id: int = 0  # given by the store

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "actor": self.actor,
            "action": self.action,
            "target": self.target,
            "before": json.loads(self.before),
            "after": json.loads(self.after),
            "at": self.at,
        }


def entry(actor: str, action: str, target: str, before: Any, after: Any) -> AuditEntry:
    """An entry whose before and after are any JSON-able values."""
    return AuditEntry(
        actor, action, target, json.dumps(before, default=str), json.dumps(after, default=str)
    )
