"""The daemon: build every part from the settings, run them, stop them cleanly.

Startup order: stores, downstream, runtime, admin listener, SMTP listener,
then READY=1. SIGTERM drains (new clients get 421, transactions finish up to
``smtp.drain_timeout``) and exits 0. SIGHUP reloads the configuration; an
invalid one is logged and the running one kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from admin import webhooks
from admin.api import AdminContext
from admin.app import make_app
from admin.tracking import Unsubscribe, make_public_app
from conf import ConfigError, Settings, load, split_hostport
from gateway import downstream as downstream_mod
from gateway import metrics, metrics_dir, runtime, sdnotify
from gateway.inbound import InboundListener
from gateway.runtime import Runtime
from gateway.smtp import Listener, tls_context
from policy import view
from policy.bus import Bus
from policy.engagement import EngagementRecorder
from policy.events import Recorder
from policy.links import KeyRing
from policy.providers import ProviderResolver
from policy.store import Store, open_store
from policy.store.inbox import Inbox
from policy.view import PolicyView
from scheduler import warmup_clock
from scheduler.feedback_service import FeedbackService

log = logging.getLogger("sluice.daemon")


@dataclass
class Daemon:
    config_path: str | None
    settings: Settings
    smtp_only: bool = False  # extra workers serve SMTP; the first process runs the rest
    rt: Runtime | None = None
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: list[asyncio.Task] = field(default_factory=list)
    children: list[int] = field(default_factory=list)
    # Opens, clicks and unsubscribes go here for whoever reacts to them.
    bus: Bus = field(default_factory=Bus)

    def runtime(self) -> Runtime:
        assert self.rt is not None
        return self.rt

    async def run(self) -> int:
        s = self.settings
        store = open_store(s.database)
        await store.open()
        recorder = Recorder(store)
        self.tasks.append(asyncio.create_task(recorder.run(), name="events"))
        # Suppression and switches are in force before the first client: no
        # listener opens on an empty mirror.
        policy = PolicyView()
        await view.refresh(policy, store)
        # The mirror (100,000s of suppressed addresses) lives as long as the process:
        # out of the collector's sight, a full pass no longer walks it (about 100 ms
        # that landed on whatever ran then, SMTP transactions included).
        gc.collect()
        gc.freeze()
        self.tasks.append(
            asyncio.create_task(view.follow(policy, store, s.policy.refresh), name="policy")
        )
        down = downstream_mod.build(s.downstream, s.smtp.hostname)
        # Built once: reservations and cached provider lookups outlive a reload.
        counters = runtime.open_counters(s)
        providers = ProviderResolver(budget=s.warmup.dns_budget)
        self.rt = runtime.build(
            s, down, recorder, counters=counters, providers=providers, policy=policy
        )
        listener = Listener(self.runtime, tls=tls_context(s))
        host, port = split_hostport(s.smtp.listen)
        await listener.start(host, port, reuse_port=s.smtp.workers > 1)

        admin_runner = inbound = public = engagement = None
        if not self.smtp_only:
            checks = {
                "downstream": lambda: self.runtime().downstream.ping(),
                "store": store.ping,
                "policy": lambda: _policy_usable(policy, self.settings.policy.max_stale),
                "policy_refresh": lambda: _policy_refreshing(policy),
            }
            if s.redis is not None:
                # In-process counters cannot be down; shared ones are a dependency.
                checks["counters"] = counters.ping
            # Without the database, mail flows on cached policy until policy.max_stale.
            ctx = AdminContext(
                settings=lambda: self.settings,
                store=store,
                counters=counters,
                policy=policy,
                reload=self.reload,
                clock=runtime.utc_now,
            )
            app = make_app(checks, degradable=frozenset({"store", "policy_refresh"}), ctx=ctx)
            clock = warmup_clock.run(
                lambda: self.settings,
                store,
                runtime.utc_now,
                lambda: self.settings.warmup.clock_interval,
            )
            self.tasks.append(asyncio.create_task(clock, name="warmup-clock"))
            # Bounces and complaints: inbox, accounting files, webhook (scheduler/feedback_service).
            feedback = FeedbackService(store, lambda: self.settings, bus=self.bus)
            self.tasks.extend(feedback.start())
            webhooks.add_powermta(
                app, feedback.ingest_records, lambda: self.settings.feedback.webhook_token
            )
            inbound = await _start_inbound(s, lambda: self.settings)
            admin_runner = web.AppRunner(app, access_log=None)
            await admin_runner.setup()
            ahost, aport = split_hostport(s.http.admin_listen)
            await web.TCPSite(admin_runner, ahost, aport).start()
            public, engagement = await _start_public(
                s, lambda: self.settings, store, self.bus, feedback.unsubscribes.link
            )
            self.tasks.append(asyncio.create_task(engagement.run(), name="engagement"))

        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self.stopping.set)
        loop.add_signal_handler(signal.SIGINT, self.stopping.set)
        loop.add_signal_handler(signal.SIGHUP, lambda: asyncio.ensure_future(self.reload()))
        if (interval := sdnotify.watchdog_interval()) is not None:
            self.tasks.append(asyncio.create_task(_watchdog(interval), name="watchdog"))
        if self.children:
            self.tasks.append(asyncio.create_task(self._watch_workers(), name="workers"))

        log.info(
            "sluice ready pid=%d smtp=%s admin=%s downstream=%s",
            os.getpid(),
            s.smtp.listen,
            "-" if self.smtp_only else s.http.admin_listen,
            (s.downstream.sink and f"outbox:{s.downstream.sink}")
            or f"{s.downstream.host}:{s.downstream.port}",
        )
        sdnotify.notify("READY=1", f"STATUS=serving SMTP on {s.smtp.listen}")

        await self.stopping.wait()
        sdnotify.notify("STOPPING=1")
        for pid in self.children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        log.info(
            "draining: up to %.0fs for %d transaction(s)",
            s.smtp.drain_timeout,
            listener.in_transaction,
        )
        finished = await listener.drain(s.smtp.drain_timeout)
        if not finished:
            log.warning("drain timeout: closing transactions still open (no 250 was sent for them)")
        if admin_runner is not None:
            await admin_runner.cleanup()
        if inbound is not None:
            await inbound.close()
        if public is not None:
            await public.cleanup()
        for task in self.tasks:
            task.cancel()
        with contextlib.suppress(Exception):
            await recorder.flush()
        if engagement is not None:
            with contextlib.suppress(Exception):
                await engagement.flush(everything=True)
        await self.runtime().downstream.close()
        await counters.close()
        await providers.close()
        await store.close()
        await asyncio.to_thread(self._reap_children)
        log.info("stopped")
        return 0

    async def reload(self) -> str | None:
        """Load the configuration again: None when applied, else why it was refused."""
        sdnotify.reloading()
        refused = None
        try:
            settings = await asyncio.to_thread(load, self.config_path)
            old = self.runtime()
            down = old.downstream
            if settings.downstream != old.settings.downstream:
                down = downstream_mod.build(settings.downstream, settings.smtp.hostname)
            self.rt = await asyncio.to_thread(
                runtime.build,
                settings,
                down,
                old.recorder,
                counters=old.counters,
                providers=old.providers,
                policy=old.policy,
            )
        except ConfigError as exc:
            metrics.CONFIG_RELOADS.labels("rejected").inc()
            log.error("reload rejected, keeping the running configuration:\n%s", exc)
            refused = str(exc)
        else:
            metrics.CONFIG_RELOADS.labels("ok").inc()
            for key in ("listen", "tls", "workers"):
                if getattr(settings.smtp, key) != getattr(old.settings.smtp, key):
                    log.warning("smtp.%s changed: takes effect on restart", key)
            for key in ("redis", "redis_prefix"):
                if getattr(settings, key) != getattr(old.settings, key):
                    log.warning("%s changed: takes effect on restart", key)
            if down is not old.downstream:
                asyncio.get_running_loop().call_later(
                    old.settings.downstream.timeout + 5,
                    lambda: asyncio.ensure_future(old.downstream.close()),
                )
            self.settings = settings
            log.info("configuration reloaded")
        for pid in self.children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGHUP)
        sdnotify.notify("READY=1")
        return refused

    async def _watch_workers(self, every: float = 1.0) -> None:
        # The others keep serving on the shared port; the operator hears of it
        # and the dead worker's live gauges (connections, pool) leave /metrics.
        while self.children:
            await asyncio.sleep(every)
            if self.stopping.is_set():
                return  # they were told to stop: _reap_children waits for them
            for pid in list(self.children):
                status: int | None
                try:
                    done, status = os.waitpid(pid, os.WNOHANG)  # noqa: ASYNC222 (never blocks)
                except ChildProcessError:  # reaped elsewhere: gone all the same
                    done, status = pid, None
                if done:
                    self.children.remove(pid)
                    metrics.worker_exited(pid)
                    log.error(
                        "SMTP worker pid=%d exited (%s); %d process(es) still serve SMTP",
                        pid,
                        _exit_text(status),
                        1 + len(self.children),
                    )

    def _reap_children(self) -> None:
        for pid in self.children:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)


async def _policy_usable(policy: PolicyView, max_stale: float) -> None:
    if policy.age() > max_stale:
        raise RuntimeError(f"cached policy is {policy.age():.0f}s old: mail is deferred")


async def _policy_refreshing(policy: PolicyView) -> None:
    if policy.error:
        raise RuntimeError(f"serving cached policy {policy.age():.0f}s old: {policy.error}")


async def _start_inbound(s: Settings, settings: Callable[[], Settings]) -> InboundListener | None:
    """The listener for the bounce domains, when ``smtp.inbound_listen`` is set."""
    if s.smtp.inbound_listen is None:
        return None
    inbound = InboundListener(settings, Inbox(s.feedback.inbox), tls=tls_context(s))
    await inbound.start(*split_hostport(s.smtp.inbound_listen))
    log.info("inbound listener on %s, inbox %s", s.smtp.inbound_listen, s.feedback.inbox)
    return inbound


async def _start_public(
    s: Settings,
    settings: Callable[[], Settings],
    store: Store,
    bus: Bus,
    unsubscribe: Unsubscribe,
) -> tuple[web.AppRunner, EngagementRecorder]:
    """The public listener (tracking links, one-click unsubscribe) and its event writer.

    ``unsubscribe`` suppresses the address and queues MailWizz's item
    (``scheduler.unsubscribes``) before the endpoint answers 200.
    """
    engagement = EngagementRecorder(store, bus)
    app = make_public_app(KeyRing(lambda: settings().tenants), engagement.add, unsubscribe)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, *split_hostport(s.http.public_listen)).start()
    return runner, engagement


async def _watchdog(interval: float) -> None:
    # Pinged from the loop itself: a stalled loop stops the pings and systemd
    # restarts us, which is safe because we hold no message we have not handed on.
    while True:
        sdnotify.notify("WATCHDOG=1")
        await asyncio.sleep(interval)


def _exit_text(status: int | None) -> str:
    if status is None:
        return "status unknown"
    if os.WIFSIGNALED(status):
        return f"killed by {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exit status {os.waitstatus_to_exitcode(status)}"


def _fork_workers(count: int) -> tuple[bool, list[int]]:
    """Fork ``count`` SMTP-only workers before any event loop exists."""
    children = []
    for _ in range(count):
        pid = os.fork()
        if pid == 0:
            return True, []
        children.append(pid)
    return False, children


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
    smtp_only, children = _fork_workers(settings.smtp.workers - 1)
    daemon = Daemon(config_path, settings, smtp_only=smtp_only, children=children)
    try:
        return _run_loop(daemon.run())
    except BaseException:
        # A parent that failed to start must not leave its workers serving alone.
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        raise


def _run_loop(main: Any) -> int:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)
