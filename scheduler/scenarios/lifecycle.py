"""A scenario's lifecycle and its enrollments.

``draft -> scheduled -> active <-> paused -> completed | cancelled``, and
``active <-> held`` for a tenant's default scenario while another runs. Start
makes a scenario active at once, or scheduled while its start time or the
scenario it queues behind has not come; each round moves the scheduled ones
whose time came and completes the active ones with nothing left: no
enrollment active and no operation open (a deferred send is open, so a
scenario is never completed while one waits).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from policy.scenarios import ab
from policy.scenarios.definition import Scenario
from policy.scenarios.ledger import SEND, TRANSITIONS, Plan, ScenarioRow, enrollment_id
from policy.store import Store
from scheduler.scenarios.catalog import Catalog
from scheduler.scenarios.definitions import parse_json

ENDED = ("completed", "cancelled")
log = logging.getLogger("sluice.scenarios")


class LifecycleError(ValueError):
    """An action the scenario's status does not allow (the API answers 409)."""


async def _ready(store: Store, row: ScenarioRow, now: float) -> bool:
    if row.start_at is not None and row.start_at > now:
        return False
    if row.queue_behind:
        ahead = await store.scenario(row.tenant, row.queue_behind)
        return ahead is None or ahead.status in ENDED
    return True


async def advance(store: Store, now: float) -> None:
    """Scheduled scenarios whose time came start; finished active ones complete; a
    tenant's default scenario is held while another runs and released after."""
    rows = await store.scenarios()
    for row in rows:
        if row.status == "scheduled" and await _ready(store, row, now):
            await store.set_scenario_status(row.tenant, row.name, "active", "scheduled", now)
        elif row.status == "active":
            counts = await store.enrollment_counts(row.tenant, row.name)
            if (
                counts
                and not counts.get("active")
                and not await store.open_ops(row.tenant, row.name)
            ):
                await store.set_scenario_status(row.tenant, row.name, "completed", "active", now)
            else:
                await decide_winners(store, row, now)
    await hold_defaults(store, now)


async def hold_defaults(store: Store, now: float) -> None:
    """Hold each ``pauses_while_filtered`` scenario while another of its tenant's
    scenarios is active (unless that one runs side by side); release it after."""
    rows = await store.scenarios()
    for row in rows:
        if row.status not in ("active", "held"):
            continue
        d = parse_json(row.definition)
        if not d.pauses_while_filtered:
            continue
        others = [
            o.name
            for o in rows
            if o.tenant == row.tenant
            and o.name != row.name
            and o.status == "active"
            and not parse_json(o.definition).side_by_side
        ]
        if others and row.status == "active":
            if await store.set_scenario_status(row.tenant, row.name, "held", "active", now):
                log.info("scenario %s/%s held while %s runs", row.tenant, row.name, others[0])
        elif not others and row.status == "held":
            if await store.set_scenario_status(row.tenant, row.name, "active", "held", now):
                log.info("scenario %s/%s released: no other scenario runs", row.tenant, row.name)


async def act(store: Store, tenant: str, name: str, action: str, now: float) -> str:
    """Start, pause, resume or cancel; the new status. LookupError, LifecycleError."""
    row = await store.scenario(tenant, name)
    if row is None:
        raise LookupError(f"no scenario {name!r} for tenant {tenant!r}")
    if action == "start":
        if row.status not in ("draft", "scheduled"):
            raise LifecycleError(f"cannot start a scenario that is {row.status}")
        to = "active" if await _ready(store, row, now) else "scheduled"
    elif action == "pause":
        to = "paused"
    elif action == "resume":
        to = "active"
    elif action == "cancel":
        to = "cancelled"
    else:
        raise LifecycleError(f"unknown action {action!r}")
    if action != "start" and row.status not in TRANSITIONS[action]:
        raise LifecycleError(f"cannot {action} a scenario that is {row.status}")
    if row.status != to and not await store.set_scenario_status(tenant, name, to, row.status, now):
        raise LifecycleError("the scenario changed meanwhile; try again")
    return to


async def missing_templates(store: Store, tenant: str, d: Scenario) -> list[tuple[str, str]]:
    """(where, template) of each step's template the tenant has not saved, in any language.

    Checked when a scenario starts or a running one changes, not when a draft is saved
    (it may be written before its templates): a missing one would fail every send."""
    missing: list[tuple[str, str]] = []
    found: dict[str, bool] = {}
    for i, step in enumerate(d.steps):
        if step.template is not None:
            uses = [(f"steps.{i}.template", step.template)]
        else:
            uses = [(f"steps.{i}.variants.{j}.template", v.template)
                    for j, v in enumerate(step.variants)]  # fmt: skip
        for where, name in uses:
            if name not in found:
                found[name] = bool(await store.template_variants(tenant, name))
            if not found[name]:
                missing.append((where, name))
    return missing


@dataclass
class Enrolled:
    enrolled: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (email, reason)


async def _open_scenario(store: Store, tenant: str, name: str, doing: str) -> ScenarioRow:
    """The scenario's row; LookupError when there is none, LifecycleError when it ended."""
    row = await store.scenario(tenant, name)
    if row is None:
        raise LookupError(f"no scenario {name!r} for tenant {tenant!r}")
    if row.status in ENDED:
        raise LifecycleError(f"cannot {doing} a scenario that is {row.status}")
    return row


async def enroll(
    store: Store, catalog: Catalog, tenant: str, name: str, emails: Sequence[str],
    now: float | None = None,
) -> Enrolled:  # fmt: skip
    """Enroll contacts in the scenario's current version; each skip says why."""
    now = time.time() if now is None else now
    row = await _open_scenario(store, tenant, name, "enroll in")
    d = parse_json(row.definition)
    room = _room(d, sum((await store.enrollment_counts(tenant, name)).values()))
    out, plans = Enrolled(), list[Plan]()
    suppressed = await store.suppression_entries(tenant, [e.strip().lower() for e in emails])
    for raw in dict.fromkeys(e.strip().lower() for e in emails):
        reason = await _refusal(catalog, tenant, raw, d, suppressed)
        if reason is None and len(plans) >= room:
            reason = "the scenario's max_contacts is reached"
        if reason is not None:
            out.skipped.append((raw, reason))
            continue
        eid = enrollment_id(tenant, name, raw)
        plans.append(Plan(tenant, name, row.version, eid, raw, d.entry().id, SEND, now))
    for plan, fresh in zip(plans, await store.enroll(plans, now), strict=True):
        (
            out.enrolled.append(plan.email)
            if fresh
            else out.skipped.append((plan.email, "already enrolled"))
        )
    return out


@dataclass
class Migrated:
    version: int
    moved: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (email, reason)


async def migrate(
    store: Store, tenant: str, name: str, emails: Sequence[str] | None = None,
    now: float | None = None,
) -> Migrated:  # fmt: skip
    """Move active enrollments of older versions (all, or ``emails``) to the current one.

    An enrollment moves only when the steps it stands on (the last one sent and the one
    waiting) exist in the current version; one whose send is under way waits for it.
    LookupError for an unknown scenario, LifecycleError for an ended one.
    """
    now = time.time() if now is None else now
    row = await _open_scenario(store, tenant, name, "migrate enrollments of")
    steps = {s.id for s in parse_json(row.definition).steps}
    wanted = None if emails is None else {e.strip().lower() for e in emails}
    out, ids = Migrated(row.version), []
    for e, op_step, op_status in await store.older_enrollments(tenant, name, row.version):
        if wanted is not None and e.email not in wanted:
            continue
        reason = _unmovable(steps, e.step, op_step.removeprefix("decide:"), op_status)
        if reason:
            out.skipped.append((e.email, reason))
        else:
            ids.append(e.id)
            out.moved.append(e.email)
    await store.migrate_enrollments(ids, row.version, now)
    return out


def _unmovable(steps: set[str], sent: str, waiting: str, status: str) -> str:
    if status in ("claimed", "sending"):
        return "a send is under way: try again"
    for step in (sent, waiting):
        if step and step not in steps:
            return f"step {step!r} is not in the current version"
    return ""


def _room(d: Scenario, enrolled: int) -> int:
    return 1 << 62 if d.max_contacts is None else max(0, d.max_contacts - enrolled)


async def _refusal(
    catalog: Catalog, tenant: str, email: str, d: Scenario, suppressed: Mapping[str, object]
) -> str | None:
    if "@" not in email:
        return "not an email address"
    if email in suppressed:
        return "suppressed"
    who = await catalog.recipient(tenant, email)
    if who is None:
        return "not a contact"
    if who.status != "active":
        return who.status
    return (await catalog.allows(tenant, who, d.filters)) or None


async def decide_winners(store: Store, row: ScenarioRow, now: float) -> None:
    """Record an A/B winner per step once the test says so (figures kept with it)."""
    d = parse_json(row.definition)
    if d.auto_winner is None:
        return
    winners = json.loads(row.winners)
    changed = False
    for step in d.steps:
        if len(step.choices) < 2 or step.id in winners:
            continue
        stats = {
            v: (n, o, c)
            for v, n, o, c in await store.variant_engagement(row.tenant, row.name, step.id)
        }
        sent = [stats.get(i, (0, 0, 0))[0] for i in range(len(step.choices))]
        hit_at = 2 if d.auto_winner.metric == "clicked" else 1
        hits = [stats.get(i, (0, 0, 0))[hit_at] for i in range(len(step.choices))]
        found = ab.winner(
            hits, sent, min_sample=d.auto_winner.min_sample, confidence=d.auto_winner.confidence
        )
        if found is not None:
            winners[step.id] = {
                "winner": found.winner, "runner_up": found.runner_up, "rates": found.rates,
                "z": found.z, "p_value": found.p_value, "sent": sent, "hits": hits, "at": now,
            }  # fmt: skip
            changed = True
    if changed:
        await store.set_winners(row.tenant, row.name, json.dumps(winners), now)
