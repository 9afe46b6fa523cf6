"""The scenario store's protocol and the values the engine's ledger writes carry.

The three ledger writes (``mark_sending``, ``set_ops``, ``complete_ops``) take
many operations at once: concurrent operations' writes go to the store
together, each in one statement or one transaction, and each operation is
answered whether its row was still its claimer's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from policy.scenarios.ledger import Enrollment, Op, Plan, ScenarioRow


@dataclass(frozen=True)
class Completion:
    """Everything an operation's end writes in one transaction.

    The operation moves to the archive with ``status``; the enrollment records
    the send (``sent``: step, sent_at, message_id, variants JSON); the next
    operations are planned; ``end`` (status, reason) closes the enrollment and
    cancels whatever else it had pending.
    """

    op: Op
    claimer: str
    status: str  # executed | failed | cancelled
    reason: str = ""
    sent: tuple[str, float, str, str] | None = None
    plans: Sequence[Plan] = ()
    end: tuple[str, str] | None = None


@dataclass(frozen=True)
class Mark:
    """A claimed operation about to be handed to the pipeline, with its Message-ID."""

    op_id: int
    message_id: str
    variant: int


@dataclass(frozen=True)
class Release:
    """A claimed operation back to waiting: ``pending`` (a gate's wait) or ``deferred``."""

    op_id: int
    status: str
    due: float
    reason: str


class ScenarioStore(Protocol):
    async def save_scenario(
        self, tenant: str, name: str, definition: str, start_at: float | None,
        queue_behind: str | None, now: float,
    ) -> int: ...  # fmt: skip
    async def scenario(self, tenant: str, name: str) -> ScenarioRow | None: ...
    async def scenarios(self, tenant: str | None = None) -> list[ScenarioRow]: ...
    async def scenario_definition(self, tenant: str, name: str, version: int) -> str | None: ...
    async def set_scenario_status(
        self, tenant: str, name: str, to: str, expect: str, now: float
    ) -> bool: ...
    async def set_winners(self, tenant: str, name: str, winners: str, now: float) -> None: ...
    async def enroll(self, plans: Sequence[Plan], now: float) -> list[bool]: ...
    async def enrollment(self, enrollment_id: str) -> Enrollment | None: ...
    async def enrollment_counts(self, tenant: str, scenario: str) -> dict[str, int]: ...
    async def enrollments(self, ids: Sequence[str]) -> dict[str, Enrollment]: ...
    async def stop_facts(
        self, tenant: str, emails: Sequence[str], since: float
    ) -> list[tuple[str, int, float, str]]: ...  # (email, rank, at, rule) as STOP_REASON ranks
    async def older_enrollments(
        self, tenant: str, scenario: str, version: int
    ) -> list[tuple[Enrollment, str, str]]: ...  # (enrollment, open op's step, its status)
    async def migrate_enrollments(
        self, ids: Sequence[str], version: int, now: float
    ) -> int: ...  # enrollments moved, their waiting operations with them
    async def add_contact_event(
        self, tenant: str, email: str, kind: str, detail: str, at: float
    ) -> None: ...
    async def claim_ops(self, claimer: str, now: float, lease: float, limit: int) -> list[Op]: ...
    async def take_orphans(
        self, claimer: str, now: float, lease: float, limit: int
    ) -> list[Op]: ...
    async def reap_ops(self, now: float) -> int: ...
    async def heartbeat_ops(self, claimer: str, until: float) -> None: ...
    async def mark_sending(self, claimer: str, marks: Sequence[Mark], now: float) -> list[bool]: ...
    async def set_ops(
        self, claimer: str, releases: Sequence[Release], now: float
    ) -> list[bool]: ...
    async def complete_ops(self, cs: Sequence[Completion], now: float) -> list[bool]: ...
    async def open_ops(self, tenant: str, scenario: str) -> int: ...
    async def op_counts(self, tenant: str, scenario: str) -> list[tuple[str, int, str, int]]: ...
    async def due_stats(self, now: float) -> tuple[int, float | None]: ...
    async def relayed_kind(self, tenant: str, message_id: str) -> str | None: ...
    async def message_engagement(
        self, tenant: str, message_id: str, email: str
    ) -> list[tuple[str, float, str, str]]: ...
    async def last_send_to(self, tenant: str, email: str) -> float | None: ...
    async def scenario_sends_since(
        self, tenant: str, scenario: str, since: float
    ) -> tuple[int, float | None]: ...
    async def last_scenario_send(self, tenant: str, scenario: str) -> float | None: ...
    async def variant_engagement(
        self, tenant: str, scenario: str, step: str
    ) -> list[tuple[int, int, int, int]]: ...
    async def stop_reason(self, tenant: str, email: str, since: float) -> str | None: ...
