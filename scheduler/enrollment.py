"""Auto-enrollment: each round enrolls a tenant's ready prospects in the best scenario.

A round, per tenant (the ``enrollment`` task, every ``enrollment.interval`` s):

1. The settings in force (``scheduler/enrollment_state.py``: the file's values
   under the runtime changes) and the kill switches. Nobody is enrolled, and
   every prospect stays ready, while **enrollment is off** (``enabled: false``)
   or **sending is off** (a global or tenant ``pause`` switch).
2. The oldest ready prospects (``enrollment.batch``; also those decided in dry
   run once dry run is off), each judged by the eligibility rules in their
   stated order (``policy/enrollment/eligibility.py``): the contact, **its
   do-not-contact status**, suppression, disposable, role, verified MX, score,
   tier, category, language, already enrolled, then a scenario. The first rule
   that fails blocks it (``enrollment_blocked`` names the rule and the reason).
3. The scenario: the best score among the tenant's active scenarios that
   declare ``auto_enroll`` (``policy/enrollment/choice.py``). When only a
   **paused** (or held, or scheduled) scenario would take it, it waits as ready.
4. The throttles: past ``max_per_hour`` or ``max_per_day`` a prospect waits as
   ready and is enrolled by a later round with room; never dropped.
5. The first lines, through the Personalizer (``scheduler/personalization.py``),
   for each template of the scenario's entry step, when the scenario asks for
   them: at enrollment, never on the send path.
6. **Dry run** (``dry_run: true`` or a ``dry_run`` switch): steps 1 to 5 run
   and are recorded (``enrollment_dry_run``), nobody is enrolled, nothing is
   sent. Otherwise the scenario's own enrollment (``lifecycle.enroll``): the
   prospect is ``enrolled``, or blocked with the reason it gives.

A failure of step 5 or 6 is ``enrollment_failed``: the prospect stays ready and
is tried again, and after ``MAX_ATTEMPTS`` it is left as failed.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from conf import Settings
from conf.schema.enrollment import TenantEnrollment
from conf.schema.tenant import TenantSettings
from policy.enrollment import eligibility, throttle
from policy.enrollment import events as ev
from policy.enrollment.choice import Candidate, choose
from policy.enrollment.eligibility import Facts
from policy.enrollment.prospects import Decision, ProspectRow
from policy.events import Event
from policy.personalization.prompt import Brief
from policy.scenarios.contacts import Contact
from policy.scenarios.definition import Scenario
from policy.scenarios.ledger import enrollment_id
from policy.store import Store
from scheduler import enrollment_state
from scheduler.personalization import Personalizer
from scheduler.scenarios import lifecycle
from scheduler.scenarios.catalog import Catalog
from scheduler.scenarios.definitions import parse_json

log = logging.getLogger("sluice.enrollment")
WAITING = ("paused", "held", "scheduled")  # a scenario that takes nobody now, but will


@dataclass
class Report:
    """What one round did for one tenant."""

    tenant: str
    holding: str = ""
    counts: Counter[str] = field(default_factory=Counter)  # enrolled, dry_run, blocked, ...


@dataclass
class _Round:
    tenant: TenantSettings
    cfg: TenantEnrollment
    dry: bool
    now: float
    active: list[Candidate]
    waiting: list[Candidate]
    auto: list[str]  # every auto-enrollment scenario's name, whatever its status
    report: Report
    decisions: list[Decision] = field(default_factory=list)
    events: list[tuple[str, str, str, str]] = field(default_factory=list)  # kind, email, ...
    chosen: dict[str, list[Contact]] = field(default_factory=dict)

    def decide(self, d: Decision, kind: str, detail: str) -> None:
        self.decisions.append(d)
        self.events.append((kind, d.email, d.scenario, detail))
        self.report.counts[d.status] += 1


class Enrollment:
    def __init__(
        self,
        store: Store,
        settings: Callable[[], Settings],
        catalog: Catalog,
        personalizer: Personalizer | None,
        clock: Callable[[], float] = time.time,
    ):
        self.store = store
        self.settings = settings
        self.catalog = catalog
        self.personalizer = personalizer
        self.clock = clock
        # Per tenant, the auto-enrollment scenarios seen active last round: when they
        # change, prospects blocked for want of a scenario are decided again.
        self._active: dict[str, frozenset[tuple[str, int]]] = {}

    async def round(self) -> list[Report]:
        """One round for every tenant (the supervisor's ``every``)."""
        s = self.settings()
        return [await self.tenant_round(s, t, self.clock()) for t in s.tenants]

    async def tenant_round(self, s: Settings, tenant: TenantSettings, now: float) -> Report:
        async with self.store.enrollment_turn(tenant.name) as mine:
            if not mine:
                return Report(tenant.name, "another process is deciding these prospects")
            return await self._tenant_round(s, tenant, now)

    async def _tenant_round(self, s: Settings, tenant: TenantSettings, now: float) -> Report:
        st = await enrollment_state.state(self.store, s, tenant, now)
        report = Report(tenant.name, st.holding)
        if st.holding:
            return report
        await self._scenarios_changed(tenant.name, now)
        statuses = ["ready"] if st.dry_run else ["ready", "dry_run"]
        batch = await self.store.ready_prospects(tenant.name, statuses, s.enrollment.batch)
        if not batch:
            return report
        r = _Round(tenant, st.settings, st.dry_run, now, [], [], [], report)
        await self._candidates(r)
        room = throttle.room(st.settings, st.last_hour, st.today)
        await self._judge(r, batch, room)
        for name, contacts in r.chosen.items():
            await self._enroll(r, name, contacts)
        await self._record(r)
        return report

    async def _scenarios_changed(self, tenant: str, now: float) -> None:
        """A scenario that starts (or a new version) may take prospects blocked before it:
        they are decided again. Not on the first look (a restart is no change)."""
        active = frozenset(
            (row.name, row.version)
            for row in await self.store.scenarios(tenant)
            if row.status == "active" and parse_json(row.definition).auto_enroll is not None
        )
        before = self._active.get(tenant)
        self._active[tenant] = active
        if before is not None and active - before:
            await self.store.requeue_blocked(tenant, now)

    async def _candidates(self, r: _Round) -> None:
        for row in await self.store.scenarios(r.tenant.name):
            d = parse_json(row.definition)
            if d.auto_enroll is None:
                continue
            r.auto.append(row.name)
            if row.status == "active" or row.status in WAITING:
                counts = await self.store.enrollment_counts(row.tenant, row.name)
                c = Candidate(row.name, d, counts.get("active", 0), row.created)
                (r.active if row.status == "active" else r.waiting).append(c)

    async def _judge(self, r: _Round, batch: Sequence[ProspectRow], room: int) -> None:
        tenant = r.tenant.name
        emails = [p.email for p in batch]
        suppressed = await self.store.suppression_entries(tenant, emails)
        contacts = await self.store.contacts_of(tenant, emails)
        enrolled = await self._enrolled_in(r, emails)
        for p in batch:
            contact = contacts.get(p.email)
            facts = Facts(p, contact, p.email in suppressed, enrolled.get(p.email, ""))
            blocked = eligibility.first_failure(facts, r.cfg, upto="scenario")
            choice = None if blocked or contact is None else choose(contact, r.active, r.now)
            if blocked is None and choice is None:
                if contact is not None and choose(contact, r.waiting, r.now) is not None:
                    r.report.counts["held_paused"] += 1  # its scenario is paused: it waits
                    continue
                blocked = eligibility.first_failure(facts, r.cfg)
            if blocked is not None:
                r.decide(Decision(p.email, "blocked", str(blocked)), ev.ENROLLMENT_BLOCKED,
                         str(blocked))  # fmt: skip
                continue
            if room <= 0:
                r.report.counts["held_throttle"] += 1  # kept as ready: a later round enrolls it
                continue
            assert choice is not None and contact is not None
            room -= 1
            r.chosen.setdefault(choice.name, []).append(contact)

    async def _enrolled_in(self, r: _Round, emails: Sequence[str]) -> dict[str, str]:
        """An auto-enrollment scenario each email is enrolled in already, by email."""
        ids = {enrollment_id(r.tenant.name, n, e): (e, n) for e in emails for n in r.auto}
        found = await self.store.existing_enrollments(list(ids))
        return {ids[i][0]: ids[i][1] for i in sorted(found)}

    def _definition(self, r: _Round, name: str) -> Scenario:
        return next(c.definition for c in r.active if c.name == name)

    async def _enroll(self, r: _Round, name: str, contacts: list[Contact]) -> None:
        emails = [c.email for c in contacts]
        try:
            await self._first_lines(self._definition(r, name), contacts)
            if r.dry:
                for e in emails:
                    r.decide(Decision(e, "dry_run", "", name), ev.ENROLLMENT_DRY_RUN,
                             "dry run: nothing enrolled or sent")  # fmt: skip
                return
            done = await lifecycle.enroll(
                self.store, self.catalog, r.tenant.name, name, emails, r.now
            )
        except Exception as exc:  # any failure: the prospects stay ready and are tried again
            log.warning("enrollment of %d in %s/%s failed: %s", len(emails), r.tenant.name,
                        name, exc)  # fmt: skip
            await self._failed(r, name, emails, f"{type(exc).__name__}: {exc}")
            return
        for e in done.enrolled:
            r.decide(Decision(e, "enrolled", "", name), ev.ENROLLED, f"scenario {name}")
        for e, why in done.skipped:
            reason = f"scenario: {name} refused it: {why}"
            r.decide(Decision(e, "blocked", reason, name), ev.ENROLLMENT_BLOCKED, reason)

    async def _failed(self, r: _Round, name: str, emails: list[str], why: str) -> None:
        for e in emails:
            row = await self.store.prospect(r.tenant.name, e)
            last = row is not None and row.attempts + 1 >= ev.MAX_ATTEMPTS
            status = "failed" if last else "ready"
            r.decide(Decision(e, status, why, name if last else "", attempt=1),
                     ev.ENROLLMENT_FAILED, why)  # fmt: skip

    async def _first_lines(self, d: Scenario, contacts: list[Contact]) -> None:
        brief = d.auto_enroll.first_line if d.auto_enroll else None
        if brief is None or self.personalizer is None:
            return
        for variant in d.entry().choices:
            await self.personalizer.write_first_lines(
                contacts, Brief(variant.template, brief.instruction, brief.fallback)
            )

    async def _record(self, r: _Round) -> None:
        tenant = r.tenant.name
        if r.decisions:
            await self.store.decide_prospects(tenant, r.decisions, r.now)
        events = [
            Event(kind, tenant, ev.CLIENT, "", (email,), job=f"scenario:{name}" if name else "",
                  detail=_detail(detail, name), at=r.now)
            for kind, email, name, detail in r.events
        ]  # fmt: skip
        if events:
            await self.store.record(events)
        if r.events:
            await self.store.add_contact_events(
                tenant, [(email, kind, detail) for kind, email, _, detail in r.events], r.now
            )
        if r.decisions:
            log.info("enrollment %s: %s", tenant, dict(r.report.counts))


def _detail(text: str, scenario: str) -> str:
    """An event's detail is JSON (the events API reads it as an object)."""
    return json.dumps({"reason": text, "scenario": scenario} if scenario else {"reason": text})
