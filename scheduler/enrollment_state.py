"""A tenant's auto-enrollment as it stands: settings in force, counts, why it holds.

Read by the enrollment task each round and by ``GET /api/enrollment/{tenant}``,
so both say the same thing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from conf import Settings
from conf.schema.enrollment import TenantEnrollment
from conf.schema.tenant import TenantSettings
from policy import switches as sw
from policy.enrollment import settings as es
from policy.enrollment import throttle
from policy.store import Store

ENROLLED, DRY_RUN = "enrolled", "dry_run"  # the prospect statuses that count


@dataclass(frozen=True)
class State:
    settings: TenantEnrollment
    runtime: tuple[str, ...]  # the fields changed through the API (they win)
    dry_run: bool  # the settings' dry_run, or a dry-run kill switch in force
    holding: str  # why nobody is enrolled now ("" when enrollment runs)
    last_hour: int  # enrolled (dry-run decisions in dry run) in the last hour
    today: int  # ... and today in the tenant's zone
    counts: dict[str, int] = field(default_factory=dict)  # prospects by status


def tenant_zone(s: Settings, tenant: TenantSettings) -> str:
    return tenant.timezone or s.warmup.timezone


async def settings_of(store: Store, tenant: TenantSettings) -> tuple[TenantEnrollment, list[str]]:
    stored = await store.enrollment_settings(tenant.name)
    changed = sorted(json.loads(stored)) if stored else []
    return es.effective(tenant.enrollment, stored), changed


async def state(store: Store, s: Settings, tenant: TenantSettings, now: float) -> State:
    cfg, changed = await settings_of(store, tenant)
    switches = {x.key: x for x in await store.switches()}
    dry_switch = sw.active(switches, "dry_run", tenant.name)
    dry = cfg.dry_run or dry_switch is not None
    holding = ""
    if not cfg.enabled:
        holding = "enrollment is off (enabled: false)"
    elif (pause := sw.active(switches, "pause", tenant.name)) is not None:
        holding = f"sending is off: {pause.describe()}"
    status = DRY_RUN if dry else ENROLLED
    day = throttle.day_start(now, tenant_zone(s, tenant))
    return State(
        cfg,
        tuple(changed),
        dry,
        holding,
        await store.decided_since(tenant.name, status, now - throttle.HOUR),
        await store.decided_since(tenant.name, status, day),
        await store.prospect_counts(tenant.name),
    )
