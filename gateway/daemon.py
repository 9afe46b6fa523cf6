"""The daemon: build every part from the settings, run them, stop them cleanly.

``Daemon.start`` is the checklist: each line starts one part
(``gateway.parts``) on one ``AsyncExitStack``, which stops them in the
reverse order once SIGTERM comes:

    STOPPING=1 -> SMTP workers told -> SMTP drained (smtp.drain_timeout)
    -> admin, inbound and public listeners closed -> tasks stopped, producers
    first, then the final flush of events and engagement -> downstream,
    counters, providers, store closed -> SMTP workers reaped.

SIGHUP reloads the configuration; an invalid one is logged and the running
one kept.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import signal
import sys
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conf import ConfigError, Settings, load
from conf.schema.spool import SpoolSettings
from gateway import downstream as downstream_mod
from gateway import (
    first_start,
    metrics,
    metrics_dir,
    parts,
    parts_sequences,
    runtime,
    sdnotify,
    startup,
    workers,
)
from gateway import spool as spool_mod
from gateway.parts import Relay
from gateway.runtime import Runtime
from gateway.workers import Workers
from policy.bus import Bus
from policy.quota import operations
from policy.quota.states import IpState
from policy.store import Store
from scheduler import conditions, mailwizz_sync, replies_imap, warmup_clock
from scheduler.alerts import Alerter
from scheduler.feedback_service import FeedbackService
from scheduler.replies import ReplyService
from scheduler.reputation import dnsauth as dns_check_task
from scheduler.reputation import postmaster as postmaster_task
from scheduler.reputation import service as reputation
from scheduler.reputation import snds as snds_task
from scheduler.supervisor import Supervisor

log = logging.getLogger("sluice.daemon")


async def _spool_size(root: str) -> int:
    """Messages waiting in every process's spool folder (read off the event loop)."""
    return len(await asyncio.to_thread(spool_mod.listing, root))


@dataclass
class Daemon:
    config_path: str | None
    settings: Settings
    smtp_only: bool = False  # extra workers serve SMTP; the first process runs the rest
    relay: Relay | None = None
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    workers: Workers = field(default_factory=Workers)
    # Opens, clicks and unsubscribes go here for whoever reacts to them.
    bus: Bus = field(default_factory=Bus)

    def runtime(self) -> Runtime:
        assert self.relay is not None
        return self.relay.rt

    def current(self) -> Settings:
        return self.settings

    async def run(self) -> int:
        async with AsyncExitStack() as stack:
            await self.start(stack)
            await self.stopping.wait()
        log.info("stopped")
        return 0

    async def start(self, stack: AsyncExitStack) -> None:
        """Start every part; ``stack`` stops them in the reverse order."""
        s = self.settings
        spool = s.spool
        stack.push_async_callback(asyncio.to_thread, self.workers.reap)
        store = await _open_store(stack, s)
        await _check_redis(s)
        policy = await parts.policy_mirror(store)
        parts.freeze_heap()
        self.relay = parts.relay(stack, s, store, policy, spool=spool)
        tasks = await stack.enter_async_context(Supervisor())
        parts.relay_tasks(tasks, self.current, self.relay, store)
        if self.smtp_only:
            # Bounces of spooled messages go through the store (its notification
            # queue): the first process sends them.
            feedback = FeedbackService(store, self.current)
            parts.spool_tasks(tasks, self.relay, spool, feedback.ingest_records)
        else:
            await self._start_services(stack, store, tasks, spool)
        await parts.smtp(stack, s, self.relay)
        stack.callback(self.workers.stop)  # they drain alongside this process
        stack.callback(sdnotify.notify, "STOPPING=1")
        self._handle_signals()
        parts.watchdog(tasks, sdnotify.watchdog_interval())
        if self.workers.children:
            tasks.every("workers", 1.0, self.workers.watch)
        log.info(
            "sluice ready pid=%d smtp=%s admin=%s downstream=%s",
            os.getpid(),
            s.smtp.listen,
            "-" if self.smtp_only else s.http.admin_listen,
            (s.downstream.sink and f"outbox:{s.downstream.sink}")
            or f"{s.downstream.host}:{s.downstream.port}",
        )
        sdnotify.notify("READY=1", f"STATUS=serving SMTP on {s.smtp.listen}")

    def _downstream_up(self) -> bool:
        breaker = getattr(self.runtime().downstream, "breaker", None)  # the outbox sink has none
        return breaker is None or not breaker.is_open

    async def _quota_exhausted(self, store: Store) -> dict[str, bool]:
        """Each tenant: whether its pool has nothing left to send today."""
        s, now = self.settings, runtime.utc_now()
        rows = await operations.quotas(s, store, now, counters=self.runtime().counters)
        empty = operations.exhausted_pools(s, rows, now, s.alerts.quota_quiet_before_day_end)
        return {t.name: t.pool in empty for t in s.tenants}

    async def _start_services(
        self, stack: AsyncExitStack, store: Store, tasks: Supervisor, spool: SpoolSettings
    ) -> None:
        """What only the first process runs: feedback, the clock, the HTTP listeners."""
        assert self.relay is not None
        s = self.settings
        # Bounces and complaints: inbox, accounting files, webhook (scheduler/feedback_service).
        # Replies to scenario mail: the inbox hands them over; IMAP mailboxes are polled.
        reply_service = ReplyService(store, self.current, alert=Alerter(self.current))
        feedback = FeedbackService(store, self.current, bus=self.bus, replies=reply_service)
        feedback.schedule(tasks)
        replies_imap.schedule(tasks, self.current, reply_service)
        delivery = parts.spool_tasks(tasks, self.relay, spool, feedback.ingest_records)
        warmup_clock.schedule(tasks, self.current, store, runtime.utc_now)
        sync = None
        if s.mailwizz is not None:  # MailWizz's delivery-server quotas (scheduler/mailwizz_sync)
            sync = mailwizz_sync.MailwizzSync(store, self.relay().counters)
            mailwizz_sync.schedule(tasks, self.current, sync)
        if s.reputation is not None:  # DNS blocklist polling (scheduler/reputation)
            reputation.schedule(tasks, self.current, store)
        # Scenarios (scheduler/scenarios), through the pipeline in-process: one engine per host.
        parts_sequences.scenario_tasks(tasks, self.current, self.relay, store)
        # Posted prospects into scenarios, first lines written then (scheduler/enrollment).
        parts_sequences.enrollment_tasks(tasks, self.current, store)
        if s.providers.snds is not None:  # Microsoft SNDS, daily (scheduler/reputation/snds)
            snds_task.schedule(tasks, self.current, store, Alerter(self.current))
        if s.providers.postmaster is not None:  # Gmail Postmaster Tools (scheduler/reputation)
            postmaster_task.schedule(tasks, self.current, Alerter(self.current), store)
        # SPF, DKIM, DMARC, PTR, MX, tracking DNS: daily with dns_check:, on demand by the API.
        dns_check = dns_check_task.DnsCheck(self.current, Alerter(self.current))
        if s.dns_check is not None:
            dns_check_task.schedule(tasks, self.current, dns_check)
        # Stalled tasks and PowerMTA down past alerts.downstream_down_after (scheduler/conditions).
        probes = conditions.Probes(downstream_up=self._downstream_up)
        if spool.dir is not None:  # every process's folder: the spool as a whole
            probes.spool_size = functools.partial(_spool_size, spool.dir)
        probes.quota_exhausted = functools.partial(self._quota_exhausted, store)
        probes.quarantined = functools.partial(_quarantined, self.current, store)
        conditions.schedule(
            conditions.ConditionWatch(
                tasks, Alerter(self.current), probes, down_after=s.alerts.downstream_down_after,
                spool_window=s.alerts.spool_growing_after,
            )
        )  # fmt: skip
        unsubscribe = feedback.unsubscribes.link
        await parts.public_http(stack, s, self.current, store, self.bus, unsubscribe, tasks)
        await parts.inbound(stack, s, self.current)
        app = parts.admin_app(
            self.current,
            self.relay,
            store,
            tasks,
            feedback,
            self.reload,
            spool=delivery,
            mailwizz=sync,
            dns_check=dns_check,
        )
        await parts.admin_http(stack, s, app)

    def _handle_signals(self) -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self.stopping.set)
        loop.add_signal_handler(signal.SIGINT, self.stopping.set)
        loop.add_signal_handler(signal.SIGHUP, lambda: asyncio.ensure_future(self.reload()))

    async def reload(self) -> str | None:
        """Load the configuration again: None when applied, else why it was refused."""
        sdnotify.reloading()
        refused = None
        try:
            settings = await asyncio.to_thread(load, self.config_path)
            settings = first_start.with_local_admin(settings, self.config_path)
            old = self.runtime()
            down = old.downstream
            if settings.downstream != old.settings.downstream:
                down = downstream_mod.build(settings.downstream, settings.smtp.hostname)
            new = await asyncio.to_thread(
                runtime.build,
                settings,
                down,
                old.recorder,
                counters=old.counters,
                providers=old.providers,
                policy=old.policy,
                spool=old.spool,
            )
        except ConfigError as exc:
            metrics.CONFIG_RELOADS.labels("rejected").inc()
            log.error("reload rejected, keeping the running configuration:\n%s", exc)
            refused = str(exc)
        else:
            self._apply(settings, new, old)
        self.workers.forward(signal.SIGHUP)
        sdnotify.notify("READY=1")
        return refused

    def _apply(self, settings: Settings, new: Runtime, old: Runtime) -> None:
        assert self.relay is not None
        self.relay.rt = new
        metrics.CONFIG_RELOADS.labels("ok").inc()
        for key in ("listen", "tls", "workers"):
            if getattr(settings.smtp, key) != getattr(old.settings.smtp, key):
                log.warning("smtp.%s changed: takes effect on restart", key)
        for key in ("redis", "redis_prefix"):
            if getattr(settings, key) != getattr(old.settings, key):
                log.warning("%s changed: takes effect on restart", key)
        if new.downstream is not old.downstream:
            asyncio.get_running_loop().call_later(
                old.settings.downstream.timeout + 5,
                lambda: asyncio.ensure_future(old.downstream.close()),
            )
        self.settings = settings
        log.info("configuration reloaded")


def _sqlite_file(url: str) -> Path:
    """sqlite:///var/x.db is relative to the working directory; sqlite:////abs is absolute."""
    return Path(url.removeprefix("sqlite://").removeprefix("/") or "var/sluice.db").absolute()


async def _open_store(stack: AsyncExitStack, s: Settings) -> Store:
    if s.database.startswith("sqlite:"):
        log.info("database: SQLite file %s", _sqlite_file(s.database))
    try:
        return await parts.store(stack, s)
    except (OSError, ImportError, ValueError) as exc:
        raise startup.database(s.database, exc) from exc
    except Exception as exc:  # asyncpg's refusals (role, password, database) have no common base
        if type(exc).__module__.startswith(("asyncpg", "aiosqlite", "sqlite3")):
            raise startup.database(s.database, exc) from exc
        raise


async def _check_redis(s: Settings) -> None:
    """Refuse to start without the configured Redis: every quota lives there."""
    if s.redis is None:
        return
    from policy.counters.redis import RedisCounters

    counters = RedisCounters.from_url(s.redis, prefix=s.redis_prefix)
    try:
        await counters.ping()
    except Exception as exc:
        raise startup.redis(s.redis, exc) from exc
    finally:
        await counters.close()


def serve(config_path: str | None, settings: Settings) -> int:
    """Run the daemon on loaded settings until SIGTERM; the exit code for the process.

    Start it through ``gateway.launch.serve``, which sets the metrics
    directory a daemon with SMTP workers needs before this module is imported.
    """
    try:
        runtime.load_keys(settings)  # key errors belong to startup, not to the first message
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # aiosmtpd logs every command at INFO: 6% of a busy relay's CPU for lines our
    # one-per-transaction log already covers.
    logging.getLogger("mail.log").setLevel(max(logging.WARNING, logging.root.level))
    if shared := os.environ.get(metrics_dir.ENV):
        log.info("metrics of every process kept in %s for /metrics", shared)
    smtp_only, forked = workers.fork(settings.smtp.workers - 1)
    daemon = Daemon(config_path, settings, smtp_only=smtp_only, workers=forked)
    try:
        return _run_loop(daemon.run())
    except BaseException:
        # A parent that failed to start must not leave its workers serving alone.
        forked.stop()
        raise


def _run_loop(main: Any) -> int:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


async def _quarantined(settings: Callable[[], Settings], store: Store) -> dict[str, str]:
    """Each quarantined IP of the pools, with its last transition's reason."""
    ours = {ip.ip for ips in settings().pools.values() for ip in ips}
    out = {}
    for ip, record in (await store.ip_states()).items():
        if ip in ours and record.state is IpState.QUARANTINED:
            history = await store.ip_history(ip, 1)
            out[ip] = history[0].reason if history else "quarantined"
    return out
