"""The durable state, one protocol per concern; `policy.store.Store` is all of them.

Both backends (`sqlite.SqliteStore`, `postgres.PostgresStore`) implement every
protocol, and tests/unit/test_store_protocols.py holds them to it. A consumer
names the smallest protocol it needs, so a fake for its tests stays small and
a reader sees which state it touches.

The domain types are imported for annotations only: the domain modules
import these protocols in turn, and nothing here runs at import time.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from policy.store.contact_store import ContactStore, TemplateStore
from policy.store.personalization_store import PersonalizationStore
from policy.store.prospect_store import ProspectStore
from policy.store.replies_store import ReplyStore
from policy.store.rotation_store import RotationStore
from policy.store.scenario_store import ScenarioStore

if TYPE_CHECKING:
    from policy.audit import AuditEntry
    from policy.engagement import Engagement
    from policy.events import Event
    from policy.quota.ipstate import IpRecord
    from policy.quota.measures import Measure
    from policy.quota.states import Transition
    from policy.reputation.confirm import HistoryEntry, Standing
    from policy.reputation.provider_feedback import ProviderFinding
    from policy.store.admin_sql import EngagementFilter, EventFilter, SuppressionFilter
    from policy.suppression import Removal, Suppression
    from policy.switches import Switch


class Lifecycle(Protocol):
    async def open(self) -> None: ...
    async def close(self) -> None: ...
    async def ping(self) -> None: ...


class EventStore(Protocol):
    """What happened to each relayed message, and the counts quotas and warmup read."""

    async def record(self, events: Sequence[Event]) -> None: ...
    async def recent_events(self, limit: int = 100) -> list[dict[str, Any]]: ...
    # Relayed, bounced, complained... recipients of one IP in [start, end) by kind.
    async def day_counts(self, ip: str, start: float, end: float) -> dict[str, int]: ...
    async def provider_counts(self, ip: str, start: float, end: float) -> dict[str, int]: ...
    async def last_sent(self, ip: str) -> float | None: ...
    # (tenant, kind, provider group, recipients) of every event in [start, end).
    async def tenant_volumes(self, start: float, end: float) -> list[tuple[str, str, str, int]]: ...


class SuppressionStore(Protocol):
    """Upserts and tombstones, each write numbered (seq) for the mirrors."""

    async def suppress(self, entries: Sequence[Suppression]) -> int: ...
    async def unsuppress(self, tenant: str, addresses: Sequence[str]) -> int: ...
    async def suppression_changes(
        self, after: int, limit: int = 10_000
    ) -> list[tuple[int, Suppression | Removal]]: ...
    async def suppressions(self, tenant: str | None = None) -> list[Suppression]: ...
    async def suppression_entry(self, tenant: str, address: str) -> Suppression | None: ...
    async def suppression_entries(
        self, tenant: str, addresses: Sequence[str]
    ) -> dict[str, Suppression]: ...


class SwitchStore(Protocol):
    async def set_switch(self, switch: Switch) -> None: ...
    async def clear_switch(self, kind: str, target: str) -> bool: ...
    async def switches(self) -> list[Switch]: ...


class IpStateStore(Protocol):
    """IP states: compare-and-set with the transition in the same transaction."""

    async def ip_states(self) -> dict[str, IpRecord]: ...
    async def save_ip(
        self, record: IpRecord, change: Transition, expect: IpRecord | None
    ) -> bool: ...
    async def ip_history(self, ip: str, limit: int = 50) -> list[Transition]: ...


class ReputationStore(Protocol):
    """DNS blocklist standings (one per target and list) and their history, newest first."""

    async def reputation_standings(self) -> list[Standing]: ...
    async def save_reputation(
        self, standings: Sequence[Standing], history: Sequence[HistoryEntry]
    ) -> None: ...
    async def reputation_history(
        self, limit: int = 100, target: str | None = None
    ) -> list[HistoryEntry]: ...


class MeasureStore(Protocol):
    """Health holds and throttles: saved, replacing the same (ip, provider, kind)."""

    async def save_measure(self, measure: Measure) -> None: ...
    async def measures(self, now: float) -> list[Measure]: ...


class FeedbackStore(Protocol):
    """Bounces and complaints: written once per key, and counted for health and reports."""

    # Soft bounces counted once per key; the number within [since, now].
    async def count_soft_bounce(
        self, tenant: str, address: str, key: str, at: float, since: float
    ) -> int: ...
    async def prune_soft_bounces(self, before: float) -> int: ...
    # Feedback events written at most once per key, in one transaction with the
    # keys; the (key, event) pairs that were new. Keys older than `before` go.
    async def record_feedback(self, keyed: Sequence[tuple[str, Event]]) -> list[Event]: ...
    async def prune_feedback_keys(self, before: float) -> int: ...
    async def tenant_feedback_counts(
        self, since: float, until: float
    ) -> list[tuple[str, str, int]]: ...
    # Recipients per (ip, provider group, kind) relayed or fed back in [since, until).
    async def feedback_counts(
        self, since: float, until: float
    ) -> list[tuple[str, str, str, int]]: ...
    # Recipients per (kind, ip, provider, reply): relayed, bounced, complained in [since, until).
    async def feedback_breakdown(
        self, since: float, until: float, tenant: str | None = None
    ) -> list[tuple[str, str, str, str, int]]: ...


class EngagementStore(Protocol):
    """Opens, clicks and unsubscribes."""

    # Engagement events written and notifications queued at most once per key
    # (e.g. an inbox item's), in one transaction with it; whether it was new.
    async def record_once(
        self,
        key: str,
        at: float,
        engagement: Sequence[Engagement],
        notifications: Sequence[tuple[str, str]],
    ) -> bool: ...
    # Written in one batch; which are first opens, in order.
    async def record_engagement(self, events: Sequence[Engagement]) -> list[bool]: ...
    async def recent_engagement(
        self, limit: int = 100, tenant: str | None = None
    ) -> list[dict[str, Any]]: ...


class AccountingStore(Protocol):
    """How far each PowerMTA accounting file was read: (fingerprint, bytes) by file identity."""

    async def accounting_position(self, file_key: str) -> tuple[str, int] | None: ...
    async def save_accounting_position(
        self, file_key: str, path: str, fingerprint: str, read_to: int, at: float
    ) -> None: ...


class NotificationStore(Protocol):
    """Outgoing notifications: (target, JSON payload) rows until their receiver said 2xx."""

    async def enqueue_notifications(self, rows: Sequence[tuple[str, str]], at: float) -> int: ...
    async def claim_notifications(
        self, now: float, lease_until: float, limit: int
    ) -> list[tuple[int, str, str, int]]: ...
    async def finish_notifications(self, ids: Sequence[int]) -> None: ...
    async def retry_notifications(self, ids: Sequence[int], next_at: float, error: str) -> None: ...
    async def pending_notifications(self) -> int: ...


class AuditStore(Protocol):
    """The audit log of admin changes, newest first; before_id pages back."""

    async def record_audit(self, entry: AuditEntry) -> int: ...
    async def audit_entries(
        self, limit: int = 100, before_id: int = 0, actor: str = "", action: str = ""
    ) -> list[AuditEntry]: ...


class AdminListStore(Protocol):
    """The admin API's lists (admin_sql): keyset pages, events newest first; a streamed export."""

    async def suppression_page(
        self, filters: SuppressionFilter, after: tuple[str, str] | None, limit: int
    ) -> list[Suppression]: ...
    def suppression_export(
        self, filters: SuppressionFilter, batch: int = 1000
    ) -> AsyncGenerator[list[Suppression], None]: ...
    async def event_page(
        self, filters: EventFilter, before_id: int, limit: int
    ) -> list[dict[str, Any]]: ...
    async def engagement_page(
        self, filters: EngagementFilter, before_id: int, limit: int
    ) -> list[dict[str, Any]]: ...


class ProviderFeedbackStore(Protocol):
    async def save_provider_feedback(self, findings: Sequence[ProviderFinding]) -> None: ...
    async def provider_feedback(self) -> list[ProviderFinding]: ...


class Store(
    Lifecycle,
    EventStore,
    SuppressionStore,
    SwitchStore,
    IpStateStore,
    MeasureStore,
    ReputationStore,
    FeedbackStore,
    EngagementStore,
    AccountingStore,
    NotificationStore,
    AuditStore,
    AdminListStore,
    ScenarioStore,
    ContactStore,
    TemplateStore,
    ProviderFeedbackStore,
    PersonalizationStore,
    ReplyStore,
    RotationStore,
    ProspectStore,
    Protocol,
):
    """Everything the daemon's one store does."""


# Each concern, by name: the contract test checks both backends against every one.
CONCERNS: tuple[type, ...] = tuple(b for b in Store.__bases__ if b is not Protocol)
