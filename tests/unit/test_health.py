"""IP health: the rates and thresholds (pure), and the watch on a real SQLite store."""

import os
import textwrap
import time

from conf import parse
from conf.schema import HealthSettings
from policy.events import Event
from policy.feedback import health
from policy.quota import measures
from policy.quota.states import IpState
from policy.store.sqlite import SqliteStore
from scheduler.health import HealthWatch, ipstate_quarantine

LIMITS = HealthSettings(min_sample=100)


def judge(relayed: int, bounced: int = 0, complained: int = 0, delayed: int = 0) -> list:
    rows = [
        ("192.0.2.10", "google", "relayed", relayed),
        ("192.0.2.10", "google", "bounced", bounced),
        ("192.0.2.10", "google", "complained", complained),
        ("192.0.2.10", "google", "delayed", delayed),
    ]
    found = health.judge({"1h": health.tally(rows)}, LIMITS)
    # The IP's total and its one provider group say the same here.
    assert len(found) % 2 == 0
    return sorted({(f.metric, f.action) for f in found})


def test_thresholds():
    assert judge(1000, bounced=50, complained=1) == []  # exactly 5%, exactly 0.1%: not over
    assert judge(1000, bounced=51) == [("bounce", "quarantine")]
    assert judge(1000, complained=2) == [("complaint", "hold")]
    assert judge(1000, complained=4) == [("complaint", "quarantine")]
    assert judge(1000, delayed=301) == [("deferral", "throttle")]


def test_a_rate_never_exceeds_what_was_relayed():
    rows = [("192.0.2.10", "google", "relayed", 100), ("192.0.2.10", "google", "bounced", 163)]
    found = health.judge({"1h": health.tally(rows)}, LIMITS)
    assert found and all(f.rate <= 1.0 for f in found), found
    tenants = health.judge_tenants(
        {"1h": health.tally_tenants([("acme", "relayed", 100), ("acme", "complained", 500)])},
        LIMITS,
    )
    assert tenants and all(f.rate <= 1.0 for f in tenants)


def test_a_small_sample_is_not_judged():
    assert judge(99, bounced=50, complained=20) == []


def test_groups_are_judged_apart_and_quarantines_come_first():
    rows = [
        ("192.0.2.10", "google", "relayed", 500),
        ("192.0.2.10", "yahoo", "relayed", 500),
        ("192.0.2.10", "yahoo", "bounced", 40),
        ("192.0.2.10", "google", "complained", 2),
    ]
    found = health.judge({"24h": health.tally(rows)}, LIMITS)
    # 40 of 1,000 bounced overall (4%) but 8% of yahoo; 0.2% complained overall, 0.4% of google.
    assert [(f.provider, f.metric, f.action) for f in found] == [
        ("google", "complaint", "quarantine"),
        ("yahoo", "bounce", "quarantine"),
        ("*", "complaint", "hold"),
    ]
    assert found[1].describe() == "bounce rate 8.00% over 24h to yahoo (500 relayed)"


def events(kind: str, n: int, ip: str = "192.0.2.10") -> list[Event]:
    now = time.time() - 60
    return [
        Event(kind, "acme", "c", "", (f"r{i}@gmail.com",), ip=ip, at=now, provider="google")
        for i in range(n)
    ]


async def test_watch_holds_and_throttles_through_the_store_and_warns_of_tenants(store, caplog):
    # 400 relayed to google in the hour, 40% deferred: throttled to half that rate;
    # 0.25% complained: held (its warmup does not advance).
    await store.record(events("relayed", 400) + events("delayed", 160) + events("complained", 1))
    watch = HealthWatch(store, lambda: LIMITS, None)
    with caplog.at_level("WARNING", logger="sluice.health"):
        await watch.check()
    active = {m.key: m for m in await store.measures(time.time())}
    throttle = active[("192.0.2.10", "google", measures.THROTTLE)]
    assert throttle.hourly == 200  # 400 an hour, at throttle_share 0.5
    assert "deferral rate 40.00% over 1h to google" in throttle.reason
    # Judged over 24 h too (400 a day, ~16 an hour): the hour's pace measures it better.
    assert active[("192.0.2.10", "*", measures.THROTTLE)].hourly == 200
    hold = active[("192.0.2.10", "*", measures.HOLD)]
    assert hold.until > time.time() + 5 * 3600  # measure_hours: 6
    assert "tenant acme complaint rate 0.25% over 1h" in caplog.text
    assert "ip health: throttle ip=192.0.2.10" in caplog.text
    # Nothing left over the lines: the measures run out at their own time.
    assert await store.measures(hold.until + 1) == []


async def test_watch_quarantines_once_through_the_callable(tmp_path):
    store = SqliteStore(str(tmp_path / "s.db"))
    await store.open()
    calls = []

    async def quarantine(ip: str, kind: str, detail: str) -> None:
        calls.append((ip, kind, detail))

    try:
        await store.record(events("relayed", 200) + events("bounced", 20))
        await store.record(events("relayed", 200, ip="192.0.2.11"))
        watch = HealthWatch(store, lambda: LIMITS, quarantine)
        found = await watch.check()
        assert {f.ip for f in found} == {"192.0.2.10"}
        assert calls == [
            ("192.0.2.10", "bounce", "bounce rate 10.00% over 1h to all providers (200 relayed)")
        ]
        await watch.check()
        assert len(calls) == 1  # asked once a day, not every round
    finally:
        await store.close()


async def test_the_ipstate_quarantine_records_the_transition(tmp_path):
    text = """
    tenants: [{name: acme, pool: p, trusted_networks: [127.0.0.1/32], sender_domains: [a.example]}]
    pools: {p: [{ip: 192.0.2.10, vmta: p1, hostname: mta1.example}]}
    """
    settings = parse(textwrap.dedent(text), environ=os.environ)
    store = SqliteStore(str(tmp_path / "s.db"))
    await store.open()
    try:
        await ipstate_quarantine(store, lambda: settings)("192.0.2.10", "complaint", "0.4% over 1h")
        record = (await store.ip_states())["192.0.2.10"]
        assert record.state is IpState.QUARANTINED
        (change,) = await store.ip_history("192.0.2.10")
        assert change.actor == "health" and "0.4% over 1h" in change.reason
    finally:
        await store.close()
