"""The scenario store's protocol and the one value a completed operation writes at once."""

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
    async def mark_sending(
        self, op_id: int, claimer: str, message_id: str, variant: int, lease_until: float,
        now: float,
    ) -> bool: ...  # fmt: skip
    async def set_op(
        self, op_id: int, claimer: str, status: str, due: float, reason: str, now: float
    ) -> bool: ...
    async def complete_op(self, c: Completion, now: float) -> bool: ...
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
