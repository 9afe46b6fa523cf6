"""The store's protocol for prospects and the enrollment settings (``policy.enrollment``)."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import Protocol

from policy.enrollment.prospects import Decision, Prospect, ProspectRow
from policy.scenarios.contacts import Contact


class ProspectStore(Protocol):
    # Whether this process may decide the tenant's prospects now (one host at a time, so
    # the hourly and daily caps hold across hosts); held until the block ends.
    def enrollment_turn(self, tenant: str) -> AbstractAsyncContextManager[bool]: ...
    # One transaction: the prospects' contacts (as upsert_contacts: fields given, custom
    # merged, do_not_contact kept) and their rows. Per prospect "created", "updated" or
    # "unchanged" (the same fingerprint: nothing written).
    async def ingest_prospects(
        self, tenant: str, prospects: Sequence[Prospect], rows: Sequence[ProspectRow]
    ) -> list[str]: ...
    async def prospect(self, tenant: str, email: str) -> ProspectRow | None: ...
    # The oldest prospects (by creation) in one of ``statuses``.
    async def ready_prospects(
        self, tenant: str, statuses: Sequence[str], limit: int
    ) -> list[ProspectRow]: ...
    async def decide_prospects(
        self, tenant: str, decisions: Sequence[Decision], now: float
    ) -> None: ...
    async def prospect_counts(self, tenant: str) -> dict[str, int]: ...
    # Prospects whose last decision, at ``since`` or later, left them in ``status``.
    async def decided_since(self, tenant: str, status: str, since: float) -> int: ...
    # Blocked prospects back to ready (the settings changed: decided again); how many.
    async def requeue_blocked(self, tenant: str, now: float) -> int: ...
    # The contacts of ``emails`` (those that exist), by email: one round's in one go.
    async def contacts_of(self, tenant: str, emails: Sequence[str]) -> dict[str, Contact]: ...
    # Which enrollment ids exist (policy.scenarios.ledger.enrollment_id).
    async def existing_enrollments(self, ids: Sequence[str]) -> set[str]: ...
    # Contact events of one round in one transaction: (email, kind, detail) each.
    async def add_contact_events(
        self, tenant: str, events: Sequence[tuple[str, str, str]], at: float
    ) -> None: ...
    # The settings changed at runtime (JSON), None when never changed.
    async def enrollment_settings(self, tenant: str) -> str | None: ...
    async def save_enrollment_settings(
        self, tenant: str, settings: str, actor: str, now: float
    ) -> None: ...
