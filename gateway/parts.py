"""The daemon's parts: each starts one thing and registers its own cleanup on the stack.

``gateway.daemon`` lists them in start-up order on one ``AsyncExitStack``,
which stops them in the reverse order; the test harness
(``tests/support/harness.py``) builds its gateway from the same parts.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from aiohttp import web

from admin import api_dns_check, api_spool, webhooks
from admin.api import AdminContext
from admin.app import make_app
from admin.status_volumes import DownstreamLine
from admin.tracking import Unsubscribe, make_public_app
from conf import Settings, split_hostport
from conf.schema.spool import SpoolSettings
from gateway import downstream as downstream_mod
from gateway import journal, outbox, runtime, sdnotify
from gateway import spool as spool_mod
from gateway.inbound import InboundListener
from gateway.runtime import Runtime
from gateway.smtp import Listener, tls_context
from policy import engagement as engagement_mod
from policy import events, view
from policy.bus import Bus
from policy.counters.redis import RedisCounters
from policy.engagement import EngagementRecorder
from policy.events import Recorder
from policy.links import KeyRing
from policy.providers import from_settings as providers_from_settings
from policy.quota import rebuild
from policy.store import Store, open_store
from policy.store.inbox import Inbox
from policy.view import PolicyView
from scheduler import spool_delivery
from scheduler.feedback_service import FeedbackService
from scheduler.mailwizz_sync import MailwizzSync
from scheduler.reputation.dnsauth import DnsCheck
from scheduler.spool_delivery import SpoolDelivery
from scheduler.supervisor import STEADY, Stage, Supervisor

log = logging.getLogger("sluice.daemon")


@dataclass
class Relay:
    """The runtime in force: a reload swaps it, a transaction keeps the one it started with."""

    rt: Runtime

    def __call__(self) -> Runtime:
        return self.rt


async def store(stack: AsyncExitStack, s: Settings) -> Store:
    """The database, closed last of all: every other part may write to it until it stops.

    Events an earlier shutdown could not write (``gateway.journal``) are written first.
    """
    opened = open_store(s.database)
    await opened.open()
    stack.push_async_callback(opened.close)
    if (folder := _journal_dir(s)) is not None:
        await journal.replay(folder, opened)
    return opened


def _journal_dir(s: Settings) -> Path | None:
    return Path(s.events_journal) if s.events_journal is not None else None


async def policy_mirror(store: Store) -> PolicyView:
    """The policy mirror, loaded before the first client: no listener opens on an empty one.

    Its refresh is the ``policy`` task of ``relay_tasks``.
    """
    policy = PolicyView()
    await view.refresh(policy, store)
    return policy


def freeze_heap() -> None:
    # The mirror (100,000s of suppressed addresses) lives as long as the process:
    # out of the collector's sight, a full pass no longer walks it (about 100 ms
    # that landed on whatever ran then, SMTP transactions included).
    gc.collect()
    gc.freeze()


def relay(
    stack: AsyncExitStack,
    s: Settings,
    store: Store,
    policy: PolicyView,
    *,
    clock: Callable[[], datetime] | None = None,
    spool: SpoolSettings | None = None,
) -> Relay:
    """What a transaction needs: the event recorder, counters, provider lookups, downstream.

    Counters and the provider resolver are built once (reservations and cached
    lookups outlive a reload); the downstream closed at the end is the one in
    force then. They close in the reverse order: downstream, counters, providers,
    then the fallback spool (``spool``, when on and the next hop is PowerMTA).
    """
    kept = None
    if spool is not None and spool.enabled and not s.downstream.sink:
        kept = spool_mod.Spool(spool)
        kept.open()  # before the event loop serves anyone: a short blocking scan
        stack.callback(kept.close)
    counters = runtime.open_counters(s)
    if isinstance(counters, RedisCounters):  # Redis may restart empty: count from the events
        counters.seeder = rebuild.from_store(store)
    providers = providers_from_settings(s.warmup)
    stack.push_async_callback(providers.close)
    stack.push_async_callback(counters.close)
    down = downstream_mod.build(s.downstream, s.smtp.hostname)
    extra = {"clock": clock} if clock is not None else {}
    rt = runtime.build(
        s,
        down,
        Recorder(store),
        counters=counters,
        providers=providers,
        policy=policy,
        spool=kept,
        **extra,
    )
    current = Relay(rt)
    stack.push_async_callback(lambda: current.rt.downstream.close())
    return current


def relay_tasks(
    tasks: Supervisor, settings: Callable[[], Settings], relay: Relay, store: Store
) -> None:
    """The tasks of every SMTP process: write its events, keep its policy mirror fresh,
    probe the next hop while its breaker is open."""
    recorder, policy = relay().recorder, relay().policy
    assert recorder is not None
    tasks.flusher(
        "events",
        events.FLUSH_EVERY,
        recorder.flush,
        retry_at_most=events.RETRY_AT_MOST,
        final=lambda: journal.final_flush(recorder, _journal_dir(settings())),
        wake=recorder.full,
    )
    # While the breaker is open, PowerMTA is probed on its own: readiness (and so
    # a load balancer) must not wait for a message that happens to try.
    tasks.every(
        "downstream-probe",
        lambda: settings().downstream.breaker_reset,
        lambda: relay().downstream.probe(),
        backoff=STEADY,
        immediately=False,
    )
    # No backoff: past policy.max_stale mail is deferred, so a store that is back
    # must be read again within one refresh interval.
    tasks.every(
        "policy",
        lambda: settings().policy.refresh,
        lambda: view.refresh_or_keep(policy, store),
        stage=Stage.MIRROR,
        backoff=STEADY,
        immediately=False,
    )


def spool_tasks(
    tasks: Supervisor,
    relay: Relay,
    settings: SpoolSettings,
    report: spool_delivery.Report,
) -> SpoolDelivery | None:
    """Deliver this process's spool (and orphaned ones) when PowerMTA is back.

    ``report`` takes PowerMTA-style records of what bounced or expired (the
    feedback service's ``ingest_records``); sending goes through the
    downstream in force, so its pool and breaker.
    """
    spool = relay().spool
    if spool is None:
        return None

    async def deliver_one(entry: spool_mod.Entry, data: bytes) -> downstream_mod.Result:
        down = relay().downstream
        return await down.send(entry.mail_from, entry.recipients, data, smtputf8=entry.smtputf8)

    recorder = relay().recorder
    delivery = SpoolDelivery(
        spool,
        spool_mod.read_entry,
        deliver_one,
        report,
        recorder.add if recorder is not None else None,
        lambda: settings,
    )
    tasks.every(
        spool_delivery.TASK,
        settings.retry_interval,
        delivery.round,
        wake=delivery.wake,
        backoff=STEADY,
    )
    return delivery


async def smtp(
    stack: AsyncExitStack, s: Settings, relay: Relay, *, drain_timeout: float | None = None
) -> Listener:
    """The SMTP listener on ``smtp.listen``; at the end it drains (``smtp.drain_timeout``)."""
    listener = Listener(relay, tls=tls_context(s))
    host, port = split_hostport(s.smtp.listen)
    await listener.start(host, port, reuse_port=s.smtp.workers > 1)
    timeout = s.smtp.drain_timeout if drain_timeout is None else drain_timeout
    stack.push_async_callback(_drain, listener, timeout)
    return listener


async def _drain(listener: Listener, timeout: float) -> None:
    log.info("draining: up to %.0fs for %d transaction(s)", timeout, listener.in_transaction)
    if not await listener.drain(timeout):
        log.warning("drain timeout: closing transactions still open (no 250 was sent for them)")


async def inbound(stack: AsyncExitStack, s: Settings, settings: Callable[[], Settings]) -> None:
    """The listener for the bounce domains, when ``smtp.inbound_listen`` is set."""
    if s.smtp.inbound_listen is None:
        return
    listener = InboundListener(settings, Inbox(s.feedback.inbox), tls=tls_context(s))
    await listener.start(*split_hostport(s.smtp.inbound_listen))
    stack.push_async_callback(listener.close)
    log.info("inbound listener on %s, inbox %s", s.smtp.inbound_listen, s.feedback.inbox)


async def public_http(
    stack: AsyncExitStack,
    s: Settings,
    settings: Callable[[], Settings],
    store: Store,
    bus: Bus,
    unsubscribe: Unsubscribe,
    tasks: Supervisor,
) -> None:
    """The public listener (tracking links, one-click unsubscribe) and its event writer.

    ``unsubscribe`` suppresses the address and queues MailWizz's item
    (``scheduler.unsubscribes``) before the endpoint answers 200. The writer
    stops after the listener, then writes every event still waiting.
    """
    engagement = EngagementRecorder(store, bus)
    tasks.flusher(
        "engagement",
        engagement_mod.FLUSH_EVERY,
        engagement.flush,
        retry_at_most=engagement_mod.RETRY_AT_MOST,
        final=lambda: journal.bounded_flush(
            "engagement", engagement.flush(everything=True), lambda: len(engagement.pending)
        ),
    )
    app = make_public_app(KeyRing(lambda: settings().tenants), engagement.add, unsubscribe)
    await _serve(stack, app, s.http.public_listen)


async def admin_http(stack: AsyncExitStack, s: Settings, app: web.Application) -> None:
    """The admin listener on ``http.admin_listen``."""
    await _serve(stack, app, s.http.admin_listen)


def admin_app(
    settings: Callable[[], Settings],
    relay: Relay,
    store: Store,
    tasks: Supervisor,
    feedback: FeedbackService,
    reload: Callable[[], Awaitable[str | None]],
    spool: SpoolDelivery | None = None,
    mailwizz: MailwizzSync | None = None,
    dns_check: DnsCheck | None = None,
) -> web.Application:
    """Health, readiness, metrics, the admin API and PowerMTA's webhook (into ``feedback``).

    Degradable: without the database mail flows on cached policy until
    ``policy.max_stale``, and the sibling tasks are not on the path of a
    message, so a late one is reported without taking the relay out of service.
    """
    rt = relay()
    policy = rt.policy
    checks = {
        "downstream": lambda: relay().downstream.ping(),
        "store": store.ping,
        "policy": lambda: _policy_usable(policy, settings().policy.max_stale),
        "policy_refresh": lambda: _policy_refreshing(policy),
        "tasks": tasks.check,
    }
    if rt.settings.redis is not None:
        # In-process counters cannot be down; shared ones are a dependency.
        checks["counters"] = rt.counters.ping
    ctx = AdminContext(
        settings=settings,
        store=store,
        counters=rt.counters,
        policy=policy,
        reload=reload,
        clock=runtime.utc_now,
        mailwizz=(lambda: mailwizz.last) if mailwizz is not None else None,
        downstream=lambda: _downstream_line(relay),
    )
    degradable = frozenset({"store", "policy_refresh", "tasks"})
    kept = rt.spool
    if kept is not None and spool is not None:
        # With room in the spool, PowerMTA away costs no message: still ready.
        checks["spool"] = lambda: _spool_room(kept, relay)
        degradable |= {"downstream"}
    app = make_app(checks, degradable=degradable, ctx=ctx)
    if kept is not None and spool is not None:
        app[api_spool.SPOOL] = api_spool.SpoolAccess(kept.status, spool.flush)
    if dns_check is not None:  # the dns-check task's: the API shows its last report
        app[api_dns_check.DNS_CHECK] = dns_check
    token = lambda: settings().feedback.webhook_token  # noqa: E731
    webhooks.add_powermta(app, feedback.ingest_records, token)
    return app


async def _serve(stack: AsyncExitStack, app: web.Application, listen: str) -> None:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    stack.push_async_callback(runner.cleanup)
    await web.TCPSite(runner, *split_hostport(listen)).start()


async def _spool_room(spool: spool_mod.Spool, relay: Relay) -> None:
    # A spool on a full or read-only disk keeps nothing: not ready, whatever PowerMTA does.
    await asyncio.to_thread(outbox.check_room, spool.folder)
    if not spool.has_room():
        status = spool.status()
        try:
            await relay().downstream.ping()
        except Exception as exc:
            raise RuntimeError(
                f"spool full ({status['messages']} messages, {status['bytes']} bytes)"
                f" and the next hop is away: {exc}"
            ) from exc


def _downstream_line(relay: Relay) -> DownstreamLine | None:
    breaker = getattr(relay().downstream, "breaker", None)
    if breaker is None:  # the outbox of a dry run: no next hop to reach
        return None
    up = not breaker.is_open
    down_for = time.monotonic() - breaker.down_since if breaker.failures else 0.0
    return DownstreamLine(breaker.name, up, breaker.failures, down_for, breaker.last_cause)


async def _policy_usable(policy: PolicyView, max_stale: float) -> None:
    if policy.age() > max_stale:
        raise RuntimeError(f"cached policy is {policy.age():.0f}s old: mail is deferred")


async def _policy_refreshing(policy: PolicyView) -> None:
    if policy.error:
        raise RuntimeError(f"serving cached policy {policy.age():.0f}s old: {policy.error}")


def watchdog(tasks: Supervisor, interval: float | None) -> None:
    """systemd's watchdog, pinged from the loop itself (when systemd asked for it).

    A stalled loop stops the pings and systemd restarts us, which is safe
    because we hold no message we have not handed on.
    """
    if interval is not None:
        ping = lambda: sdnotify.notify("WATCHDOG=1")  # noqa: E731
        tasks.every("watchdog", interval, ping, stage=Stage.WATCHDOG)
