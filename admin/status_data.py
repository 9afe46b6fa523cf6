"""What the status page shows, gathered from the settings, the stores and the counters.

Plain frozen values for the template: the page's HTTP side (admin.status_page)
only renders them. Quota figures come from policy.quota.operations.quotas, the same
function behind `sluice quotas` and the API, so the three never disagree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from admin.status_mailwizz import MailwizzLine
from admin.status_volumes import DownstreamLine, Volume, volumes
from conf import PoolIp, Settings
from policy.feedback.decision import BOUNCED, COMPLAINED
from policy.quota import operations
from policy.quota.operations import IpQuota, Line, Usage
from policy.quota.selection import Planner
from policy.reputation.dnsauth import DnsCheckReport
from policy.reputation.provider_feedback import ProviderFinding
from policy.store import Store
from policy.store.admin_sql import EventFilter
from policy.switches import GLOBAL, KINDS, Switch

# The actions offered per state; the server accepts only these from the page.
PAGE_ACTIONS = ("pause", "resume", "quarantine", "clear")
_ACTIONS_BY_STATE = {
    "warming": ("pause", "quarantine"),
    "warm": ("pause", "quarantine"),
    "paused": ("resume", "quarantine"),
    "resting": ("resume", "quarantine"),
    "retiring": ("resume", "pause", "quarantine"),
    "quarantined": ("clear",),
}
# Bounded reads: the page answers in the same time with 10 IPs or 500.
FEEDBACK_SHOWN = 15
HISTORY_PER_IP = 10
CHANGES_SHOWN = 15
AUDIT_SHOWN = 10


@dataclass(frozen=True)
class Bar:
    """One used/limit figure; limit None: no limit."""

    label: str
    used: int
    limit: int | None

    @property
    def percent(self) -> int:
        if not self.limit:
            return 100 if self.limit == 0 else 0
        return min(100, round(100 * self.used / self.limit))

    @property
    def level(self) -> str:
        """ok, high (80 % and over) or full: the colour of the bar."""
        if self.limit is None:
            return "ok"
        if self.used >= self.limit:
            return "full"
        return "high" if self.percent >= 80 else "ok"


@dataclass(frozen=True)
class IpView:
    ip: str
    vmta: str
    hostname: str
    enabled: bool
    state: str  # warming, warm, paused, quarantined, resting, not started
    day: int  # warmup day; 0 when on no schedule
    days: int | None  # the schedule's length while the IP has a warmup day
    starts: str  # the declared first day of a warmup that has not begun
    daily: Bar
    hourly: Bar | None
    groups: dict[str, Bar]
    actions: tuple[str, ...]

    @property
    def in_rotation(self) -> bool:
        return self.state in ("warming", "warm")

    @property
    def warmup_percent(self) -> int:
        return min(100, round(100 * self.day / self.days)) if self.days else 0


@dataclass(frozen=True)
class SwitchView:
    kind: str  # pause | dry_run
    tenant: str  # GLOBAL ("") for the global one
    on: bool
    reason: str = ""
    actor: str = ""
    at: float = 0.0

    @property
    def label(self) -> str:
        return "Pause" if self.kind == "pause" else "Dry run"


@dataclass(frozen=True)
class Section:
    """One tenant's pool (tenant None: a pool no tenant sends through)."""

    tenant: str | None
    pool: str
    switches: tuple[SwitchView, ...]
    ips: tuple[IpView, ...]
    groups: tuple[str, ...]  # provider groups with a limit on any IP of the pool
    rotation: str = ""  # the pool's IP rotation: its next retirement and last word


@dataclass(frozen=True)
class FeedbackRow:
    at: float
    kind: str  # bounced | complained
    tenant: str
    ip: str
    recipient: str
    reply: str


@dataclass(frozen=True)
class ChangeRow:
    at: datetime
    ip: str
    from_state: str
    to_state: str
    actor: str
    reason: str


@dataclass(frozen=True)
class BlocklistRow:
    target: str
    zone: str
    status: str  # the latest reading
    listed: bool  # confirmed
    answer: str


@dataclass(frozen=True)
class AuditRow:
    at: float
    actor: str
    action: str
    target: str


@dataclass(frozen=True)
class DnsProblem:
    tenant: str
    target: str
    text: str


@dataclass(frozen=True)
class DnsCard:
    at: float | None  # when the last check started; None: none yet
    checked: int  # domains and IPs in it
    problems: tuple[DnsProblem, ...]


def dns_card(report: DnsCheckReport | None, configured: bool) -> DnsCard | None:
    """Every problem of the last check, one row each; None when nothing is to be shown."""
    if report is None:
        return DnsCard(None, 0, ()) if configured else None
    rows = [DnsProblem(r.tenant, r.target, p) for r in report.reports for p in r.problems]
    return DnsCard(report.at, len(report.reports), tuple(rows))


@dataclass(frozen=True)
class Status:
    now: datetime
    live: bool  # quota use from the shared counters (else from recorded events)
    global_switches: tuple[SwitchView, ...]
    sections: tuple[Section, ...]
    feedback: tuple[FeedbackRow, ...]
    changes: tuple[ChangeRow, ...]
    audit: tuple[AuditRow, ...]
    mailwizz: MailwizzLine | None = None  # the quota sync, when configured
    # DNS blocklists (scheduler/reputation): confirmed listings and readings that are not
    # clean; None when reputation: is not configured.
    blocklists: tuple[BlocklistRow, ...] | None = None
    volumes: tuple[Volume, ...] = ()  # per tenant, last hour and last 24 h
    downstream: DownstreamLine | None = None  # PowerMTA's reachability; None in dry run
    # Microsoft SNDS and Gmail Postmaster Tools (scheduler/reputation): the last finding
    # per IP or domain, worst first; None when neither is configured.
    providers: tuple[ProviderFinding, ...] | None = None
    # The DNS authentication check's last report (scheduler/reputation/dnsauth.py); None
    # when dns_check: is not configured and no check ran.
    dns: DnsCard | None = None

    @property
    def stopped(self) -> bool:
        """The global pause is on: no tenant's mail goes anywhere."""
        return any(s.on and s.kind == "pause" for s in self.global_switches)


async def gather(
    settings: Settings,
    store: Store,
    now: datetime,
    counters: Usage | None,
    mailwizz: MailwizzLine | None = None,
    downstream: DownstreamLine | None = None,
    dns: DnsCard | None = None,
) -> Status:
    rows = await operations.quotas(settings, store, now, counters=counters)
    switches = {s.key: s for s in await store.switches()}
    planner = Planner(settings.warmup)
    by_pool: dict[str, list[IpView]] = {}
    for row in rows:
        pool_ip = next(p for p in settings.pools[row.pool] if p.ip == row.ip)
        by_pool.setdefault(row.pool, []).append(_ip_view(row, pool_ip, planner))
    sections = [
        _section(t.name, t.pool, by_pool.get(t.pool, []), switches) for t in settings.tenants
    ]
    used = {t.pool for t in settings.tenants}
    sections += [_section(None, p, ips, switches) for p, ips in by_pool.items() if p not in used]
    sections = [replace(x, rotation=await _rotation(settings, store, x.pool)) for x in sections]
    ips = [p.ip for pool in settings.pools.values() for p in pool]
    return Status(
        now=now,
        live=counters is not None,
        global_switches=_switches(GLOBAL, switches),
        sections=tuple(sections),
        feedback=_feedback(
            await store.event_page(EventFilter(kinds=(BOUNCED, COMPLAINED)), 0, FEEDBACK_SHOWN)
        ),
        changes=await _changes(store, ips),
        audit=tuple(
            AuditRow(e.at, e.actor, e.action, e.target)
            for e in await store.audit_entries(limit=AUDIT_SHOWN)
        ),
        mailwizz=mailwizz,
        blocklists=None if settings.reputation is None else await _blocklists(store),
        volumes=await volumes(store, [t.name for t in settings.tenants], now.timestamp()),
        downstream=downstream,
        providers=await _providers(settings, store),
        dns=dns,
    )


async def _rotation(settings: Settings, store: Store, pool: str) -> str:
    if pool not in settings.warmup.rotation:
        return ""
    saved = await store.rotation(pool)
    if saved is None:
        return "rotation: first date set at the warmup clock's next tick"
    due = datetime.fromtimestamp(saved.next_at, UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"rotation: next retirement {due}" + (f" · {saved.note}" if saved.note else "")


GOOD = ("GREEN", "OK", "NO DATA")


async def _providers(settings: Settings, store: Store) -> tuple[ProviderFinding, ...] | None:
    cfg = settings.providers
    if cfg.snds is None and cfg.postmaster is None:
        return None
    found = await store.provider_feedback()
    return tuple(sorted(found, key=lambda f: (f.status in GOOD, f.source, f.target)))


async def _blocklists(store: Store) -> tuple[BlocklistRow, ...]:
    shown = [s for s in await store.reputation_standings() if s.listed or s.status != "clean"]
    shown.sort(key=lambda s: (not s.listed, s.target, s.zone))
    return tuple(BlocklistRow(s.target, s.zone, s.status, s.listed, s.answer) for s in shown)


def _bar(label: str, line: Line) -> Bar:
    return Bar(label, line.used, line.limit)


def _ip_view(row: IpQuota, pool_ip: PoolIp, planner: Planner) -> IpView:
    not_started = row.state == "not started"
    return IpView(
        ip=row.ip,
        vmta=row.vmta,
        hostname=pool_ip.hostname,
        enabled=pool_ip.enabled,
        state=row.state,
        day=row.day,
        # A paused or quarantined IP keeps its day: the bar shows where it will resume.
        days=planner.schedule_of(pool_ip).days if row.day > 0 else None,
        starts=pool_ip.warmup.started if not_started and pool_ip.warmup else "",
        daily=_bar("Today", row.daily),
        hourly=_bar("This hour", row.hourly) if row.hourly is not None else None,
        groups={g: _bar(g, line) for g, line in row.groups.items()},
        actions=() if not_started else _ACTIONS_BY_STATE.get(row.state, ()),
    )


def _switches(target: str, switches: dict[tuple[str, str], Switch]) -> tuple[SwitchView, ...]:
    out = []
    for kind in KINDS:
        s = switches.get((kind, target))
        if s is None:
            out.append(SwitchView(kind, target, False))
        else:
            out.append(SwitchView(kind, target, True, s.reason, s.actor, s.at))
    return tuple(out)


def _section(tenant: str | None, pool: str, ips: Sequence[IpView], switches: dict) -> Section:
    groups = sorted({g for ip in ips for g in ip.groups})
    own = _switches(tenant, switches) if tenant is not None else ()
    return Section(tenant, pool, own, tuple(ips), tuple(groups))


def _feedback(events: Sequence[dict]) -> tuple[FeedbackRow, ...]:
    return tuple(
        FeedbackRow(
            at=float(e["at"]),
            kind=e["kind"],
            tenant=e["tenant"],
            ip=e["ip"],
            recipient=e["recipients"][0] if e["recipients"] else "",
            reply=(e["reply"] or "")[:200],
        )
        for e in events
    )


async def _changes(store: Store, ips: Sequence[str]) -> tuple[ChangeRow, ...]:
    rows = []
    for ip in ips:
        for t in await store.ip_history(ip, limit=HISTORY_PER_IP):
            rows.append(
                ChangeRow(t.at, t.ip, t.from_state.value, t.to_state.value, t.actor, t.reason)
            )
    rows.sort(key=lambda r: r.at, reverse=True)
    return tuple(rows[:CHANGES_SHOWN])
