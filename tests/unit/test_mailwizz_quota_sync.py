"""The MailWizz quota sync against a real MariaDB/MySQL with MailWizz 2.x's tables.

Sluice's side is a real store (SQLite and PostgreSQL); its clock is
injected, MailWizz's is the database's NOW(). The tenant's day is UTC, as
MailWizz's, so the two agree.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pymysql
import pytest
from prometheus_client import REGISTRY

import conf
from conf.schema.mailwizz import MailwizzSyncSettings
from policy.events import Event
from policy.quota import operations
from scheduler.mailwizz_sync import ACTION, ACTOR, MailwizzSync, MailwizzUnavailable, grants
from tests.support import backends

WARMING = "192.0.2.12"  # day 1 of "ramp": 1000 a day, 100 an hour (10 sending hours)
WARM = "192.0.2.10"  # warm, capped at 5000 a day
NOW = datetime(2026, 11, 21, 12, 30, tzinfo=UTC)  # 11 whole hours after this one


def settings(timezone: str = "UTC"):
    return conf.parse(
        f"""
warmup:
  sending_hours: 10
  burst: 1
  schedules:
    ramp: {{default: [1000, 2000, 4000]}}
tenants:
  - {{name: acme, pool: acme, timezone: {timezone}, trusted_networks: [127.0.0.1/32],
     sender_domains: [a.example]}}
pools:
  acme:
    - {{ip: {WARM}, vmta: acme-1, hostname: h1, daily_limit: 5000}}
    - {{ip: {WARMING}, vmta: acme-3, hostname: h3,
       warmup: {{schedule: ramp, started: "2026-11-21"}}}}
""",
        environ={},
    )


def mapping(db, *servers: dict, margin: float = 0.0, **kw) -> MailwizzSyncSettings:
    data = {
        "database": db.url,
        "servers": servers or [{"server_id": 3, "tenant": "acme"}],
        "margin": margin,
        **kw,
    }
    return MailwizzSyncSettings.model_validate(data, strict=False)


class Clocks:
    def __init__(self) -> None:
        self.now = NOW
        self.mono = 1000.0


def syncer(store, clocks: Clocks) -> MailwizzSync:
    return MailwizzSync(store, clock=lambda: clocks.now, monotonic=lambda: clocks.mono)


async def relayed(store, ip: str, count: int, at: datetime = NOW) -> None:
    rcpts = tuple(f"r{i}@x.net" for i in range(count))
    await store.record([Event("relayed", "acme", "c", "m", rcpts, ip=ip, at=at.timestamp() - 60)])


async def audits(store) -> list:
    return await store.audit_entries(100, actor=ACTOR, action=ACTION)


def writes(server: int, change: str) -> float:
    labels = {"server": str(server), "change": change}
    return REGISTRY.get_sample_value("sluice_mailwizz_sync_writes_total", labels) or 0.0


async def test_warmup_day_advances_and_capacity_grows(store, mailwizz_db):
    s, clocks = settings(), Clocks()
    await mailwizz_db.add_server(3)
    sync = syncer(store, clocks)
    await sync.sync_once(s, mapping(mailwizz_db))
    # Day 1: the warming IP's 100 this hour and min(1000, 100 + 11 * 100) today, plus 5000.
    assert await mailwizz_db.server(3) == ("active", 100 + 5000, 1000 + 5000)
    await operations.ip_action(s, store, WARMING, "set-day", actor="ops", now=NOW, day=2)
    clocks.now += timedelta(minutes=5)
    clocks.mono += 300
    await sync.sync_once(s, mapping(mailwizz_db))
    assert await mailwizz_db.server(3) == ("active", 200 + 5000, 2000 + 5000)
    [second, first] = await audits(store)
    assert first.as_dict()["after"]["hourly_quota"] == 5100
    assert second.as_dict()["before"]["daily_quota"] == 6000
    assert second.as_dict()["after"]["daily_quota"] == 7000


async def test_an_ip_quarantined_takes_its_capacity_away(store, mailwizz_db):
    s, clocks = settings(), Clocks()
    await mailwizz_db.add_server(3)
    sync = syncer(store, clocks)
    await sync.sync_once(s, mapping(mailwizz_db, margin=0.03))
    # 3 % of each limit kept back: 100 - 3 + 5000 - 150 an hour, 1000 - 30 + 5000 - 150 a day.
    assert await mailwizz_db.server(3) == ("active", 4947, 5820)
    await operations.ip_action(s, store, WARM, "quarantine", actor="ops", now=NOW)
    await sync.sync_once(s, mapping(mailwizz_db, margin=0.03))
    assert await mailwizz_db.server(3) == ("active", 97, 970)
    assert sync.last is not None and sync.last.servers[0].capacity.ips == (WARMING,)


async def test_a_kill_switch_disables_the_server_and_clearing_it_enables_it(store, mailwizz_db):
    s, clocks = settings(), Clocks()
    await mailwizz_db.add_server(3, hourly=50, daily=500)
    sync = syncer(store, clocks)
    await operations.set_switch(s, store, "pause", "acme", actor="ops", reason="complaints")
    disabled = writes(3, "disabled")
    await sync.sync_once(s, mapping(mailwizz_db))
    # Disabled, and the quotas left as they were (0 would be no limit).
    assert await mailwizz_db.server(3) == ("disabled", 50, 500)
    assert writes(3, "disabled") == disabled + 1
    [entry] = await audits(store)
    assert entry.target == "mailwizz-server:3"
    assert (
        entry.as_dict()["after"]["why"] == "disabled: tenant acme pause switch (by ops: complaints)"
    )
    await operations.clear_switch(s, store, "pause", "acme")
    # A new process: what Sluice disabled, it learns from the audit log.
    await syncer(store, clocks).sync_once(s, mapping(mailwizz_db))
    assert await mailwizz_db.server(3) == ("active", 5100, 6000)
    assert len(await audits(store)) == 2


async def test_capacity_used_up_disables_and_the_next_day_enables(store, mailwizz_db):
    s, clocks = settings(), Clocks()
    only_warm = {"server_id": 4, "tenant": "acme", "ips": [WARM]}
    await mailwizz_db.add_server(4)
    sync = syncer(store, clocks)
    await sync.sync_once(s, mapping(mailwizz_db, only_warm))
    assert await mailwizz_db.server(4) == ("active", 5000, 5000)
    await relayed(store, WARM, 5000)  # used by another sender: MailWizz logged none
    await sync.sync_once(s, mapping(mailwizz_db, only_warm))
    assert await mailwizz_db.server(4) == ("disabled", 5000, 5000)
    clocks.now += timedelta(days=1)
    await sync.sync_once(s, mapping(mailwizz_db, only_warm))
    assert await mailwizz_db.server(4) == ("active", 5000, 5000)
    whys = [e.as_dict()["after"]["why"] for e in await audits(store)]
    assert whys[0].startswith("enabled: capacity returned")
    assert whys[1] == "disabled: daily capacity used up"


async def test_mailwizz_s_own_sends_count_toward_the_quota_it_holds(store, mailwizz_db):
    s, clocks = settings(), Clocks()
    only_warm = {"server_id": 4, "tenant": "acme", "ips": [WARM]}
    await mailwizz_db.add_server(4)
    # MailWizz sent 40 this hour (its usage log), which Sluice relayed.
    await mailwizz_db.log_sends(4, 40)
    await relayed(store, WARM, 40)
    await syncer(store, clocks).sync_once(s, mapping(mailwizz_db, only_warm))
    # 4960 left in Sluice, 40 already counted by MailWizz: it may send exactly 4960 more.
    assert await mailwizz_db.server(4) == ("active", 5000, 5000)
    # Yesterday's sends are not in MailWizz's day.
    await mailwizz_db.log_sends(4, 7, at=datetime.now(UTC).replace(tzinfo=None) - timedelta(days=1))
    await syncer(store, clocks).sync_once(s, mapping(mailwizz_db, only_warm))
    assert await mailwizz_db.server(4) == ("active", 5000, 5000)


async def test_an_operator_s_disabled_server_stays_disabled(store, mailwizz_db):
    s, clocks = settings(), Clocks()
    await mailwizz_db.add_server(3, status="disabled")
    await syncer(store, clocks).sync_once(s, mapping(mailwizz_db))
    # Quotas kept current for when the operator turns it back on.
    assert await mailwizz_db.server(3) == ("disabled", 5100, 6000)


async def test_a_server_with_a_mailwizz_warmup_plan_is_left_alone(store, mailwizz_db, caplog):
    s, clocks = settings(), Clocks()
    await mailwizz_db.add_server(3, plan=9, hourly=10, daily=20)
    with caplog.at_level(logging.WARNING, "sluice.mailwizz_sync"):
        report = await syncer(store, clocks).sync_once(s, mapping(mailwizz_db))
    assert await mailwizz_db.server(3) == ("active", 10, 20)
    assert "warmup plan 9 attached" in caplog.text
    assert any("warmup plan 9" in n for n in report.notes)
    assert await audits(store) == []
    managed = REGISTRY.get_sample_value("sluice_mailwizz_server_managed", {"server": "3"})
    assert managed == 0


async def test_writes_only_on_change_or_after_the_interval(store, mailwizz_db):
    s, clocks = settings(), Clocks()
    await mailwizz_db.add_server(3)
    sync = syncer(store, clocks)
    cfg = mapping(mailwizz_db, interval=300)
    refreshed, changed = writes(3, "refresh"), writes(3, "quota")
    await sync.sync_once(s, cfg)
    assert writes(3, "quota") == changed + 1
    clocks.mono += 299
    report = await sync.sync_once(s, cfg)
    assert not report.servers[0].written
    clocks.mono += 1
    report = await sync.sync_once(s, cfg)
    # Due again: written with the same values, counted, but no audit entry (nothing changed).
    assert report.servers[0].written and writes(3, "refresh") == refreshed + 1
    assert len(await audits(store)) == 1
    # An edit in MailWizz is put right on the next round.
    await mailwizz_db.execute("UPDATE mw_delivery_server SET hourly_quota = 1 WHERE server_id = 3")
    clocks.mono += 10
    await sync.sync_once(s, cfg)
    assert await mailwizz_db.server(3) == ("active", 5100, 6000)
    assert len(await audits(store)) == 2
    quota = REGISTRY.get_sample_value("sluice_mailwizz_quota", {"server": "3", "kind": "hourly"})
    assert quota == 5100


async def test_database_unreachable_fails_the_round_and_the_next_one_retries(
    store, mailwizz_db, caplog
):
    s, clocks = settings(), Clocks()
    await mailwizz_db.add_server(3)
    port = _closed_port()
    down = MailwizzSyncSettings.model_validate(
        {
            "database": f"mysql://sluice_sync:secret@127.0.0.1:{port}/mailwizz",
            "servers": [{"server_id": 3, "tenant": "acme"}],
            "timeout": 2,
        },
        strict=False,
    )
    sync = syncer(store, clocks)
    failures = (
        REGISTRY.get_sample_value("sluice_mailwizz_sync_failures_total", {"reason": "unreachable"})
        or 0.0
    )
    with caplog.at_level(logging.WARNING, "sluice.mailwizz_sync"):
        with pytest.raises(MailwizzUnavailable, match=f"127.0.0.1:{port}/mailwizz"):
            await sync.sync_once(s, down)
    assert f"cannot connect to MailWizz's MySQL at 127.0.0.1:{port}/mailwizz" in caplog.text
    assert "retried next round" in caplog.text and "secret" not in caplog.text
    assert (
        REGISTRY.get_sample_value("sluice_mailwizz_sync_failures_total", {"reason": "unreachable"})
        == failures + 1
    )
    # The same syncer, the database back: the round works.
    await sync.sync_once(s, mapping(mailwizz_db))
    assert await mailwizz_db.server(3) == ("active", 5100, 6000)


async def test_a_database_that_accepts_and_never_answers_times_out(store):
    s, clocks = settings(), Clocks()
    silent = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    cfg = MailwizzSyncSettings.model_validate(
        {
            "database": f"mysql://u@127.0.0.1:{port}/mailwizz",
            "servers": [{"server_id": 3, "tenant": "acme"}],
            "timeout": 0.5,
        },
        strict=False,
    )
    try:
        started = time.monotonic()
        with pytest.raises(MailwizzUnavailable, match="TimeoutError"):
            await syncer(store, clocks).sync_once(s, cfg)
        assert time.monotonic() - started < 5
    finally:
        silent.close()


async def test_the_documented_grants_are_enough(store, mailwizz_db):
    s, clocks = settings(), Clocks()
    await mailwizz_db.add_server(3)
    user, password = f"sluice_sync_{secrets.token_hex(3)}", secrets.token_hex(8)
    account = f"'{user}'@'%'"
    url = urlsplit(mailwizz_db.url)
    cfg = mapping(mailwizz_db)
    try:
        # No arguments: the host pattern's % is not a placeholder (the password is hex).
        await mailwizz_db.execute(f"CREATE USER {account} IDENTIFIED BY '{password}'")
        for grant in grants(cfg, account):
            await mailwizz_db.execute(grant)
    except pymysql.MySQLError as exc:
        await mailwizz_db.execute(f"DROP USER IF EXISTS {account}")
        pytest.skip(f"the test server's user cannot create users: {exc}")
    try:
        limited = cfg.model_copy(
            update={"database": f"mysql://{user}:{password}@{url.hostname}:{url.port}{url.path}"}
        )
        await syncer(store, clocks).sync_once(s, limited)
        assert await mailwizz_db.server(3) == ("active", 5100, 6000)
    finally:
        await mailwizz_db.execute(f"DROP USER IF EXISTS {account}")


async def test_a_tenant_day_other_than_mailwizz_s_is_reported(store, mailwizz_db):
    s, clocks = settings(timezone="Asia/Kolkata"), Clocks()
    await mailwizz_db.add_server(3)
    report = await syncer(store, clocks).sync_once(s, mapping(mailwizz_db))
    [note] = report.notes
    assert note.startswith("MailWizz's day (UTC+00:00) is not tenant acme's quota day")
    assert "(Asia/Kolkata, UTC+05:30)" in note


async def test_a_mapped_server_missing_in_mailwizz_is_a_warning(store, mailwizz_db):
    s, clocks = settings(), Clocks()
    report = await syncer(store, clocks).sync_once(s, mapping(mailwizz_db))
    assert report.notes == ["MailWizz has no delivery server 3 (mapped to tenant acme)"]


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert not backends.reachable("127.0.0.1", port)
    return port
