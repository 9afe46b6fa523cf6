"""IP rotation: the pure decisions, the fading share, and the warmup clock running it
over a real store (SQLite and PostgreSQL): warm -> retiring -> resting -> warming."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import conf
from conf.schema.warmup import RotationSettings
from gateway.cli import main
from policy.quota import rotation
from policy.quota.ipstate import IpRecord
from policy.quota.selection import Candidate, Planner, order
from policy.quota.states import IpEvent, IpState
from policy.store import open_store
from scheduler import rotation as rotation_task
from scheduler import warmup_clock
from tests.unit.test_warmup_clock import sent

IPS = ("192.0.2.10", "192.0.2.11", "192.0.2.12", "192.0.2.13")
DAY = 86400.0


def settings(min_share: float = 0.75, count: int = 4):
    pool = "\n".join(
        f"    - {{ip: {ip}, vmta: acme-{i}, hostname: h{i}}}" for i, ip in enumerate(IPS[:count])
    )
    text = f"""
warmup:
  schedules:
    rewarm: {{default: [500, 1000, 2000]}}
  rotation:
    acme: {{every_days: 10, retire_hours: 24, rest_days: 7, rewarm_schedule: rewarm,
            min_warm_share: {min_share}}}
tenants:
  - {{name: acme, pool: acme, trusted_networks: [127.0.0.1/32], sender_domains: [a.example]}}
pools:
  acme:
{pool}
"""
    return conf.parse(text, environ={})


def at(day: int, hour: int = 12) -> datetime:
    return datetime(2026, 11, 1, hour, tzinfo=UTC) + timedelta(days=day)


def warm(ip: str, **kw: object) -> IpRecord:
    return IpRecord(ip, IpState.WARM, 0, "2026-11-01", **kw)  # type: ignore[arg-type]


CFG = RotationSettings(every_days=10, retire_hours=24, rest_days=7, rewarm_schedule="rewarm")


def test_decide_retires_the_most_used_warm_ip_when_due_and_never_below_the_share():
    s = settings()
    ips = s.pools["acme"]
    records = {ip: warm(ip) for ip in IPS}
    sent_by = {IPS[0]: 10, IPS[2]: 300, IPS[3]: 300}
    assert rotation.decide(ips, records, sent_by, CFG, next_at=100.0, now=99.0).steps == ()
    found = rotation.decide(ips, records, sent_by, CFG, next_at=100.0, now=100.0)
    assert [(x.ip, x.event) for x in found.steps] == [(IPS[2], IpEvent.RETIRE)]  # tie: first
    assert found.next_at == 100.0 + 10 * DAY and "300 sent" in found.note
    # One already out: a second retirement would leave 2 of 4 warm (below 0.75).
    records[IPS[2]] = replace(records[IPS[2]], state=IpState.RESTING, schedule="rewarm")
    found = rotation.decide(ips, records, sent_by, CFG, next_at=100.0, now=200.0)
    assert found.steps == () and found.next_at == 100.0
    assert (
        found.note == "waiting: retiring one would leave 2 of 4 IPs warm, below min_warm_share 0.75"
    )


def test_decide_rests_a_faded_ip_and_rewarms_a_rested_one_it_took_out():
    ips = settings().pools["acme"]
    records = {
        IPS[0]: warm(IPS[0]),
        IPS[1]: IpRecord(IPS[1], IpState.RETIRING, 0, "", IpState.WARM, 1000.0, "rewarm"),
        IPS[2]: IpRecord(IPS[2], IpState.RESTING, 0, "", IpState.WARM, 1000.0, "rewarm"),
        IPS[3]: IpRecord(IPS[3], IpState.RESTING, 0, "", IpState.WARM, 0.0),  # an operator's
    }
    found = rotation.decide(ips, records, {}, CFG, next_at=1e12, now=1000.0 + 24 * 3600)
    assert [(x.ip, x.event) for x in found.steps] == [(IPS[1], IpEvent.REST)]
    found = rotation.decide(ips, records, {}, CFG, next_at=1e12, now=1000.0 + 7 * DAY)
    assert [(x.ip, x.event) for x in found.steps] == [
        (IPS[1], IpEvent.REST),
        (IPS[2], IpEvent.RESTART),
    ]


def test_a_retiring_ips_share_of_first_places_fades_with_its_share():
    ips = settings(count=2).pools["acme"]

    def firsts(share: float) -> float:
        cands = [Candidate(ips[0], 0, False, ()), Candidate(ips[1], 1, False, (), share)]
        return sum(order(cands, {}, t)[0].ip.ip == IPS[1] for t in range(2000)) / 2000

    assert abs(firsts(1.0) - 0.5) < 0.02
    assert abs(firsts(0.5) - 0.25) < 0.03
    assert firsts(0.0) == 0.0
    alone = [Candidate(ips[1], 1, False, (), 0.0)]
    assert order(alone, {}, 7) == alone  # still takes mail when it is all there is


def test_the_planner_fades_a_retiring_ip_and_rewarms_on_the_rotation_schedule():
    s = settings()
    planner = Planner(s.warmup)
    retiring = IpRecord(IPS[1], IpState.RETIRING, 0, "", IpState.WARM, at(0).timestamp(), "rewarm")
    states = {IPS[1]: retiring}
    [one] = [
        c
        for c in planner.candidates(s.pools["acme"], at(0, 18), "default", states=states)
        if c.ip.ip == IPS[1]
    ]
    assert abs(one.share - 0.75) < 1e-9  # 6 of 24 hours gone
    rewarming = IpRecord(IPS[1], IpState.WARMING, 1, "2026-11-01", schedule="rewarm")
    assert planner.daily(s.pools["acme"][1], rewarming) == 500


async def test_the_clock_takes_an_ip_through_the_whole_rotation(store):
    s = settings()
    assert await warmup_clock.tick(s, store, at(0)) != []  # first sight: all warm
    assert (await store.rotation("acme")).next_at == at(0).timestamp() + 10 * DAY
    await sent(store, at(5), 50, ip=IPS[3])
    await sent(store, at(5), 20, ip=IPS[0])
    assert await warmup_clock.tick(s, store, at(9)) == []
    [change] = await warmup_clock.tick(s, store, at(10))
    assert (change.ip, change.to_state, change.actor) == (IPS[3], IpState.RETIRING, "rotation")
    record = (await store.ip_states())[IPS[3]]
    assert record.schedule == "rewarm" and record.previous is IpState.WARM
    [change] = await warmup_clock.tick(s, store, at(11))
    assert change.to_state is IpState.RESTING
    assert await warmup_clock.tick(s, store, at(17)) == []
    [change] = await warmup_clock.tick(s, store, at(18))
    assert (change.to_state, change.to_day) == (IpState.WARMING, 1)
    assert Planner(s.warmup).daily(s.pools["acme"][3], (await store.ip_states())[IPS[3]]) == 500
    saved = await store.rotation("acme")
    assert saved.next_at == at(20).timestamp() and saved.note.startswith(f"retired {IPS[3]}")


async def test_skip_and_trigger(store):
    s = settings(min_share=0.5)
    await warmup_clock.tick(s, store, at(0))
    skipped = await rotation_task.act(s, store, "acme", "skip", at(1))
    assert skipped.next_at == at(0).timestamp() + 20 * DAY and "skipped" in skipped.note
    triggered = await rotation_task.act(s, store, "acme", "trigger", at(2))
    assert triggered.next_at == at(12).timestamp()
    states = await store.ip_states()
    assert sum(r.state is IpState.RETIRING for r in states.values()) == 1
    # A second trigger would leave 2 of 4 warm: allowed at 0.5; a third would not.
    await rotation_task.act(s, store, "acme", "trigger", at(2, 13))
    third = await rotation_task.act(s, store, "acme", "trigger", at(2, 14))
    assert third.note.startswith("waiting: retiring one would leave 1 of 4")
    states = await store.ip_states()
    assert sum(r.state is IpState.RETIRING for r in states.values()) == 2


def test_the_cli_shows_skips_and_triggers_with_audit(tmp_path, capsys):
    path = tmp_path / "sluice.yaml"
    yaml = f'database: "sqlite:///{tmp_path}/s.db"\n' + CONFIG_YAML
    path.write_text(yaml)
    assert main(["rotation", "-c", str(path)]) == 0
    out = capsys.readouterr().out
    assert "acme: every 10 days, next retirement set at the warmup clock's next tick" in out
    assert main(["rotation", "acme", "trigger", "-c", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"{IPS[0]}" in out and "retiring (rotation)" in out and "retired 192.0.2.10" in out
    assert main(["rotation", "skip", "-c", str(path)]) == 2
    assert "has no rotation" in capsys.readouterr().err
    assert main(["rotation", "nope", "-c", str(path)]) == 2

    async def audited() -> list[str]:
        store = open_store(f"sqlite:///{tmp_path}/s.db")
        await store.open()
        try:
            return [e.action for e in await store.audit_entries(5)]
        finally:
            await store.close()

    assert asyncio.run(audited()) == ["rotation.trigger"]


CONFIG_YAML = """
warmup:
  rotation:
    acme: {every_days: 10, min_warm_share: 0.5}
tenants:
  - {name: acme, pool: acme, trusted_networks: [127.0.0.1/32], sender_domains: [a.example]}
pools:
  acme:
    - {ip: 192.0.2.10, vmta: acme-0, hostname: h0}
    - {ip: 192.0.2.11, vmta: acme-1, hostname: h1}
"""
