"""The operation ledger's rows and keys: what the engine plans, claims and executes.

Every planned send or decision is one row whose idempotency key is
``sha256(tenant | scenario | enrollment id | step)``, unique in the store: a
decision taken twice plans its child once. A send's Message-ID derives from
the same key, so after a crash the relay's record of that Message-ID says
whether the send happened before anything is resent.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

# Lifecycle of a scenario: draft -> scheduled -> active <-> paused -> completed | cancelled;
# active <-> held for a tenant's default scenario while another of its scenarios runs.
SCENARIO_STATUSES = ("draft", "scheduled", "active", "paused", "held", "completed", "cancelled")
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "start": ("draft", "scheduled"),  # -> active (or scheduled while its start or queue waits)
    "pause": ("active", "held"),
    "resume": ("paused",),
    "cancel": ("draft", "scheduled", "active", "paused", "held"),
}
# What the engine records in the events list, one per send and per decision.
SENT, DEFERRED, FAILED = "scenario_sent", "scenario_deferred", "scenario_failed"
DECISION, STOPPED = "scenario_decision", "scenario_stopped"
EVENT_KINDS = (SENT, DEFERRED, FAILED, DECISION, STOPPED)
# An enrollment: active (a send or decision pending), then completed, stopped (a stop
# rule), cancelled (its scenario was) or failed (a send failed for good).
ENROLLMENT_OPEN = ("active",)
OP_STATUSES = ("pending", "claimed", "sending", "executed", "deferred", "failed", "cancelled")
OP_OPEN = ("pending", "claimed", "sending", "deferred")
SEND, DECIDE = "send", "decide"


def idempotency_key(tenant: str, scenario: str, enrollment: str, step: str) -> str:
    return hashlib.sha256(f"{tenant}|{scenario}|{enrollment}|{step}".encode()).hexdigest()


def enrollment_id(tenant: str, scenario: str, email: str, run: int = 1) -> str:
    """Deterministic: enrolling the same contact twice in one run finds the first row."""
    return hashlib.sha256(f"{tenant}|{scenario}|{email}|{run}".encode()).hexdigest()[:32]


def message_id(key: str, sender_domain: str) -> str:
    """The Message-ID (without <>) of the send whose idempotency key is ``key``."""
    return f"{key[:32]}@{sender_domain}"


def decide_step(step: str) -> str:
    """The ledger step name of the decision after ``step`` was sent."""
    return f"decide:{step}"


@dataclass(frozen=True)
class ScenarioRow:
    tenant: str
    name: str
    version: int
    status: str
    definition: str  # the Scenario's JSON (by alias) of this version
    start_at: float | None
    queue_behind: str | None
    created: float
    updated: float
    winners: str = "{}"  # JSON: step -> the auto-winner's decision


@dataclass(frozen=True)
class Enrollment:
    id: str
    tenant: str
    scenario: str
    version: int
    email: str
    status: str
    step: str  # the last step sent ("" before the entry step)
    sent_at: float
    message_id: str
    variants: str  # JSON: step -> variant index
    reason: str
    created: float
    updated: float


@dataclass(frozen=True)
class Op:
    id: int
    key: str
    tenant: str
    scenario: str
    version: int
    enrollment: str
    email: str
    step: str
    kind: str  # send | decide
    status: str
    due: float
    attempts: int
    lease_until: float
    claimed_by: str
    message_id: str
    variant: int
    reason: str
    created: float
    updated: float


@dataclass(frozen=True)
class Plan:
    """An operation to add: the enrollment's next send or decision."""

    tenant: str
    scenario: str
    version: int
    enrollment: str
    email: str
    step: str
    kind: str
    due: float
    variant: int = -1

    @property
    def key(self) -> str:
        return idempotency_key(self.tenant, self.scenario, self.enrollment, self.step)
