"""IP rotation: warm -> retiring -> resting -> warming -> warm, one pool at a time.

Pure: a pool's IPs, their records, what each sent lately and the time in; the
steps to take out. Every ``every_days`` the most-used warm IP retires (its
share of new mail fades over ``retire_hours``, see ``selection.order``), then
rests ``rest_days``, then warms again on the short ``rewarm_schedule``. A
retirement waits while it would leave fewer than ``min_warm_share`` of the
pool's enabled IPs warm, so a pool is never emptied by its own rotation. An IP
the rotation took out carries the re-warm schedule in its record: that is how
a rest the rotation began is told from an operator's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from conf import PoolIp
from conf.schema.warmup import RotationSettings
from policy.quota.ipstate import IpRecord
from policy.quota.states import IpEvent, IpState

DAY = 86400.0


@dataclass(frozen=True)
class Step:
    ip: str
    event: IpEvent  # RETIRE, REST or RESTART (re-warm)
    detail: str


@dataclass(frozen=True)
class Round:
    steps: tuple[Step, ...]
    next_at: float  # when the next retirement is due
    note: str  # what this round decided about a retirement, for the operator


def _warm(ips: Sequence[PoolIp], records: Mapping[str, IpRecord]) -> list[PoolIp]:
    return [
        ip for ip in ips if ip.enabled and (r := records.get(ip.ip)) and r.state is IpState.WARM
    ]


def decide(
    ips: Sequence[PoolIp],
    records: Mapping[str, IpRecord],
    sent: Mapping[str, int],
    cfg: RotationSettings,
    next_at: float,
    now: float,
) -> Round:
    """This round's steps. ``sent``: messages per IP over the last ``every_days``."""
    steps = [*_ending(ips, records, cfg, now)]
    if now < next_at:
        return Round(tuple(steps), next_at, "")
    warm = _warm(ips, records)
    enabled = sum(1 for ip in ips if ip.enabled)
    if not warm:
        return Round(tuple(steps), next_at, "waiting: no warm IP to retire")
    left = len(warm) - 1
    if enabled == 0 or left / enabled < cfg.min_warm_share:
        note = (
            f"waiting: retiring one would leave {left} of {enabled} IPs warm,"
            f" below min_warm_share {cfg.min_warm_share:g}"
        )
        return Round(tuple(steps), next_at, note)
    # The most used carries the most reputation risk; ties go to the first listed.
    chosen = max(warm, key=lambda ip: (sent.get(ip.ip, 0), -ips.index(ip)))
    detail = f"most used warm IP of the pool ({sent.get(chosen.ip, 0)} sent)"
    steps.append(Step(chosen.ip, IpEvent.RETIRE, detail))
    note = f"retired {chosen.ip}: {detail}"
    return Round(tuple(steps), now + cfg.every_days * DAY, note)


def _ending(
    ips: Sequence[PoolIp], records: Mapping[str, IpRecord], cfg: RotationSettings, now: float
) -> list[Step]:
    """Retiring IPs whose fade is over rest; rested ones the rotation began warm again."""
    out = []
    for ip in ips:
        r = records.get(ip.ip)
        if r is None or not r.schedule:
            continue
        if r.state is IpState.RETIRING and now >= r.updated_at + cfg.retire_hours * 3600:
            out.append(Step(ip.ip, IpEvent.REST, f"retired: resting {cfg.rest_days} days"))
        elif r.state is IpState.RESTING and now >= r.updated_at + cfg.rest_days * DAY:
            detail = f"rested {cfg.rest_days} days: re-warming on {r.schedule}"
            out.append(Step(ip.ip, IpEvent.RESTART, detail))
    return out


def first_due(cfg: RotationSettings, now: float) -> float:
    """A pool seen for the first time rotates ``every_days`` from now, not at once."""
    return now + cfg.every_days * DAY
