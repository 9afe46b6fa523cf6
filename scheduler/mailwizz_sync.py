"""One round of the MailWizz quota sync: read MailWizz's rows, compute, write what is due.

policy.quota.mailwizz says what each mapped delivery server may send and
what to write; this module talks to MailWizz's MySQL database. A round
opens one connection (in MailWizz's own connection time zone, so NOW() is
MailWizz's clock), reads the mapped `delivery_server` rows and their usage
this hour and today, and updates `hourly_quota`, `daily_quota` and `status`
where a decision says so. Each update is a compare-and-set on the status
and warmup plan it read, so an operator's edit in between wins. It writes
nothing else: a MySQL user with SELECT on the usage log and SELECT, UPDATE
on `delivery_server` is enough.

A round that cannot reach MySQL raises MailwizzUnavailable after logging
it; the next round (the supervisor's) tries again from scratch.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import aiomysql
import pymysql
from prometheus_client import Counter, Gauge
from pymysql.constants import CLIENT

from conf import Settings
from conf.schema.mailwizz import MailwizzSyncSettings
from policy import audit
from policy.audit import AuditEntry
from policy.quota import calendar, operations
from policy.quota import mailwizz as mailwizz_quota
from policy.quota.mailwizz import Capacity, ClockCheck, Decision, ServerRow
from policy.quota.operations import Usage
from scheduler.supervisor import Supervisor

log = logging.getLogger("sluice.mailwizz_sync")

ACTOR = "mailwizz-sync"
TASK = "mailwizz-sync"  # its supervisor task and sluice_task_* label
ACTION = "mailwizz.quota"

QUOTA = Gauge(
    "sluice_mailwizz_quota",
    "The quota a MailWizz delivery server holds after the last sync round (0: no limit)",
    ["server", "kind"],
    multiprocess_mode="livemostrecent",
)
MANAGED = Gauge(
    "sluice_mailwizz_server_managed",
    "1 when the sync manages the MailWizz delivery server, 0 when it leaves it alone"
    " (a MailWizz warmup plan attached, or no such server)",
    ["server"],
    multiprocess_mode="livemostrecent",
)
WRITES = Counter(
    "sluice_mailwizz_sync_writes_total",
    "Updates of MailWizz delivery servers: quota, disabled, enabled, refresh (unchanged)",
    ["server", "change"],
)
FAILURES = Counter(
    "sluice_mailwizz_sync_failures_total",
    "Sync rounds that failed: MailWizz's database unreachable or refusing a query",
    ["reason"],
)


def grants(sync: MailwizzSyncSettings, user: str) -> list[str]:
    """The GRANT statements that give `user` (e.g. 'sluice_sync'@'10.0.0.5') all a round needs."""
    db = f"`{sync.dsn().database}`"
    return [
        "GRANT SELECT (server_id, status, hourly_quota, daily_quota, warmup_plan_id),"
        " UPDATE (hourly_quota, daily_quota, status, last_updated)"
        f" ON {db}.{sync.table('delivery_server')} TO {user}",
        f"GRANT SELECT ON {db}.{sync.table('delivery_server_usage_log')} TO {user}",
    ]


class MailwizzUnavailable(RuntimeError):
    """MailWizz's database could not be reached or refused a query: the round did nothing more."""


class SyncStore(mailwizz_quota.CapacityStore, Protocol):
    async def record_audit(self, entry: AuditEntry) -> int: ...
    async def audit_entries(
        self, limit: int = 100, before_id: int = 0, actor: str = "", action: str = ""
    ) -> list[AuditEntry]: ...


@dataclass(frozen=True)
class ServerReport:
    """One mapped server after a round, for the status page."""

    server_id: int
    tenant: str
    capacity: Capacity
    decision: Decision | None  # None: no such row in MailWizz
    written: bool
    warning: str = ""


@dataclass(frozen=True)
class RoundReport:
    at: datetime
    clock: tuple[ClockCheck, ...]  # per tenant
    servers: tuple[ServerReport, ...]

    @property
    def notes(self) -> list[str]:
        """Every warning of the round: clocks that differ, servers left alone."""
        out = [n for c in self.clock if (n := c.note())]
        return out + [s.warning for s in self.servers if s.warning]


Connect = Callable[[MailwizzSyncSettings], Awaitable[Any]]


async def connect(sync: MailwizzSyncSettings) -> Any:
    """A connection in MailWizz's own time zone; FOUND_ROWS so an UPDATE counts matches."""
    dsn = sync.dsn()
    conn = await aiomysql.connect(
        host=dsn.host,
        port=dsn.port,
        user=dsn.user,
        password=dsn.password,
        db=dsn.database,
        connect_timeout=sync.timeout,
        autocommit=True,
        client_flag=CLIENT.FOUND_ROWS,
    )
    async with conn.cursor() as cur:
        await cur.execute("SET time_zone = %s", (sync.time_zone,))
    return conn


@dataclass
class MailwizzSync:
    """The sync's state between rounds: Sluice's last writes, and the servers it disabled."""

    store: SyncStore
    counters: Usage | None = None  # the live quota counters (reservations included)
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    monotonic: Callable[[], float] = time.monotonic
    connect: Connect = connect
    last: RoundReport | None = None  # the last round that worked
    _written: dict[int, float] = field(default_factory=dict)  # server -> monotonic time
    _ours: dict[int, bool] = field(default_factory=dict)  # server -> Sluice disabled it

    async def sync_once(self, settings: Settings, sync: MailwizzSyncSettings) -> RoundReport:
        """One round; raises MailwizzUnavailable (logged) when MySQL cannot be used."""
        now = self.clock()
        caps = await mailwizz_quota.capacities(
            settings, sync, self.store, now, counters=self.counters
        )
        where = sync.dsn().where()
        try:
            # aiomysql's connect_timeout does not cover the handshake: a server that
            # accepts and never greets would hold the round forever.
            async with asyncio.timeout(sync.timeout):
                conn = await self.connect(sync)
        except (pymysql.MySQLError, OSError, TimeoutError) as exc:
            raise self._failed(
                "unreachable", f"cannot connect to MailWizz's MySQL at {where}", exc
            ) from exc
        try:
            return await self._round(conn, settings, sync, caps, now)
        except (pymysql.MySQLError, OSError, TimeoutError) as exc:
            raise self._failed("query", f"MailWizz's MySQL at {where} failed", exc) from exc
        finally:
            conn.close()

    async def _round(
        self,
        conn: Any,
        settings: Settings,
        sync: MailwizzSyncSettings,
        caps: Mapping[int, Capacity],
        now: datetime,
    ) -> RoundReport:
        async with asyncio.timeout(sync.timeout):  # a server that accepts and never answers
            mw_now, utc_now = await _clock(conn)
            rows = await _rows(conn, sync, list(caps))
        reports = []
        for server in sync.servers:
            cap = caps[server.server_id]
            row = rows.get(server.server_id)
            if row is None:
                reports.append(_missing(server.server_id, server.tenant, cap))
                continue
            reports.append(await self._server(conn, sync, row, cap))
        clocks = tuple(
            ClockCheck(
                mw_now,
                utc_now,
                t,
                calendar.pool_zone(settings, operations.tenant_pool(settings, t)),
            )
            for t in sorted({s.tenant for s in sync.servers})
        )
        for c in clocks:
            if note := c.note():
                log.info("mailwizz sync: %s", note)
        self.last = RoundReport(now, clocks, tuple(reports))
        return self.last

    async def _server(
        self, conn: Any, sync: MailwizzSyncSettings, row: ServerRow, cap: Capacity
    ) -> ServerReport:
        sid = row.server_id
        written_at = self._written.get(sid)
        refresh = written_at is None or self.monotonic() - written_at >= sync.interval
        ours = await self._disabled_by_us(sid) if row.status == mailwizz_quota.DISABLED else False
        decision = mailwizz_quota.decide(row, cap, ours=ours, refresh=refresh)
        label = str(sid)
        MANAGED.labels(label).set(0 if decision.warning else 1)
        if decision.warning:
            log.warning("mailwizz sync: %s", decision.warning)
        written = False
        if decision.write:
            async with asyncio.timeout(sync.timeout):
                written = await _update(conn, sync, row, decision)
        if decision.write and not written:
            log.info("mailwizz sync: server %s changed while being synced; next round", sid)
        final = decision if written else None
        QUOTA.labels(label, "hourly").set(final.hourly_quota if final else row.hourly_quota)
        QUOTA.labels(label, "daily").set(final.daily_quota if final else row.daily_quota)
        if written:
            self._written[sid] = self.monotonic()
            await self._record(row, cap, decision)
        return ServerReport(sid, cap.tenant, cap, decision, written, decision.warning)

    async def _record(self, row: ServerRow, cap: Capacity, decision: Decision) -> None:
        """The metric of every write; an audit entry for a write that changed something."""
        change = _change(row, decision)
        WRITES.labels(str(row.server_id), change).inc()
        if change == "refresh":
            return
        if decision.status != row.status:
            self._ours[row.server_id] = decision.status == mailwizz_quota.DISABLED
        before = {
            "status": row.status,
            "hourly_quota": row.hourly_quota,
            "daily_quota": row.daily_quota,
        }
        after = {
            "status": decision.status,
            "hourly_quota": decision.hourly_quota,
            "daily_quota": decision.daily_quota,
            "tenant": cap.tenant,
            "why": decision.why,
        }
        await self.store.record_audit(
            audit.entry(ACTOR, ACTION, _target(row.server_id), before, after)
        )
        log.info("mailwizz sync: server %s %s", row.server_id, decision.why)

    async def _disabled_by_us(self, server_id: int) -> bool:
        """Whether Sluice's last status change of the server disabled it (the audit log says)."""
        if server_id not in self._ours:
            self._ours[server_id] = await _last_status_ours(self.store, server_id)
        return self._ours[server_id]

    def _failed(self, reason: str, message: str, exc: BaseException) -> MailwizzUnavailable:
        FAILURES.labels(reason).inc()
        text = f"{message}: {exc.__class__.__name__}: {exc}"
        log.warning("mailwizz sync: %s; retried next round", text)
        return MailwizzUnavailable(text)


async def _clock(conn: Any) -> tuple[datetime, datetime]:
    async with conn.cursor() as cur:
        await cur.execute("SELECT NOW(), UTC_TIMESTAMP()")
        mw_now, utc = await cur.fetchone()
    return mw_now, utc.replace(tzinfo=UTC)


async def _rows(conn: Any, sync: MailwizzSyncSettings, ids: Sequence[int]) -> dict[int, ServerRow]:
    """The mapped servers' rows, with MailWizz's usage in its current hour and day."""
    if not ids:
        return {}
    marks = ", ".join(["%s"] * len(ids))
    servers, usage = sync.table("delivery_server"), sync.table("delivery_server_usage_log")
    async with conn.cursor() as cur:
        await cur.execute(
            "SELECT server_id, status, hourly_quota, daily_quota, warmup_plan_id"
            f" FROM {servers} WHERE server_id IN ({marks})",
            tuple(ids),
        )
        found = await cur.fetchall()
        # MailWizz's own windows (DeliveryServer::countHourlyUsage, countDailyUsage).
        await cur.execute(
            "SELECT server_id,"
            " SUM(date_added BETWEEN DATE_FORMAT(NOW(), '%%Y-%%m-%%d %%H:00:00')"
            " AND DATE_FORMAT(NOW() + INTERVAL 1 HOUR, '%%Y-%%m-%%d %%H:00:00')), COUNT(*)"
            f" FROM {usage} WHERE server_id IN ({marks}) AND date_added BETWEEN"
            " DATE_FORMAT(NOW(), '%%Y-%%m-%%d 00:00:00')"
            " AND DATE_FORMAT(NOW() + INTERVAL 1 DAY, '%%Y-%%m-%%d 00:00:00')"
            " GROUP BY server_id",
            tuple(ids),
        )
        used = {int(sid): (int(hour or 0), int(day)) for sid, hour, day in await cur.fetchall()}
    out = {}
    for sid, status, hourly, daily, plan in found:
        hour, day = used.get(int(sid), (0, 0))
        out[int(sid)] = ServerRow(int(sid), str(status), int(hourly), int(daily), plan, hour, day)
    return out


async def _update(conn: Any, sync: MailwizzSyncSettings, row: ServerRow, d: Decision) -> bool:
    """Write the decision if the row still has the status it was read with, and no plan."""
    async with conn.cursor() as cur:
        await cur.execute(
            f"UPDATE {sync.table('delivery_server')}"
            " SET hourly_quota = %s, daily_quota = %s, status = %s, last_updated = NOW()"
            " WHERE server_id = %s AND status = %s AND warmup_plan_id IS NULL",
            (d.hourly_quota, d.daily_quota, d.status, row.server_id, row.status),
        )
        return bool(cur.rowcount)


async def _last_status_ours(store: SyncStore, server_id: int, pages: int = 20) -> bool:
    """Read back through the sync's audit entries for the server's last status change."""
    target, before_id = _target(server_id), 0
    for _ in range(pages):
        entries = await store.audit_entries(200, before_id, actor=ACTOR, action=ACTION)
        for e in entries:
            if e.target != target:
                continue
            was, now = e.as_dict()["before"], e.as_dict()["after"]
            if was.get("status") != now.get("status"):
                return bool(now.get("status") == mailwizz_quota.DISABLED)
        if len(entries) < 200:
            return False
        before_id = entries[-1].id
    return False


def _missing(server_id: int, tenant: str, cap: Capacity) -> ServerReport:
    warning = f"MailWizz has no delivery server {server_id} (mapped to tenant {tenant})"
    log.warning("mailwizz sync: %s", warning)
    MANAGED.labels(str(server_id)).set(0)
    return ServerReport(server_id, tenant, cap, None, False, warning)


def _change(row: ServerRow, d: Decision) -> str:
    if d.status != row.status:
        return "disabled" if d.status == mailwizz_quota.DISABLED else "enabled"
    return "quota" if d.changed else "refresh"


def _target(server_id: int) -> str:
    return f"mailwizz-server:{server_id}"


def schedule(
    tasks: Supervisor, settings: Callable[[], Settings], sync: MailwizzSync
) -> MailwizzSync:
    """Run a round every ``mailwizz.interval`` seconds while the section is configured.

    Settings are read each round, so a reload changes the mapping, the margin
    and the interval; a section removed by a reload stops the writes.
    """

    async def round_() -> None:
        cfg = settings().mailwizz
        if cfg is not None:
            await sync.sync_once(settings(), cfg)

    first = settings().mailwizz
    assert first is not None
    tasks.every(TASK, lambda: (settings().mailwizz or first).interval, round_)
    return sync
