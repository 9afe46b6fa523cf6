"""The ``<virtual-mta>`` blocks of the PowerMTA fragment: source IP, DKIM keys, warming rate.

Everything Sluice asks of PowerMTA beyond routing is scoped to Sluice's own
VirtualMTAs, so merging the fragment into a PowerMTA that other senders share
changes nothing for them:

- DKIM: ``domain-key`` lines for the tenants' own domains only, inside the
  VirtualMTAs of the tenant's pool, and ``dkim-sign yes`` in a ``<domain *>``
  block nested in that VirtualMTA. A ``<domain>`` block names *recipient*
  domains ("All settings inside apply only to this recipient domain"), so a
  top-level ``<domain *> dkim-sign yes`` would turn signing on for every
  sender of the PowerMTA; nested, it covers only mail leaving by this VMTA.
  The nested form is the one of Port25's VirtualMTA examples
  (``<virtual-mta ...> smtp-source-host ...  <domain *> ... </domain>``).
- ``max-msg-rate N/h``: a per-domain directive; PowerMTA's directive
  dictionary gives it as ``N/[M]{d,h,m,s}``, unlimited by default (the same
  form as Port25's own queue examples, ``max-msg-rate 2500/m``). Here nested
  the same way, so it paces this VirtualMTA only. For a warming
  IP it is today's hourly limit of Sluice's own schedule: PowerMTA then
  holds the IP to it even if mail reaches it by another way. It changes with
  the warmup day, so the comment names the day and says to render again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from conf import PoolIp, Settings
from policy.quota import calendar
from policy.quota.selection import schedules
from policy.quota.warmup import DEFAULT_GROUP, hourly_limit, warmup_day

INDENT = "    "


@dataclass(frozen=True)
class Vmta:
    name: str
    ip: str
    hostname: str
    pool: str
    setting: PoolIp


def rate(settings: Settings, vmta: Vmta, today: date) -> tuple[int | None, str]:
    """(messages per hour, why) for a warming IP today; (None, "") for a warm one."""
    warmup = vmta.setting.warmup
    if warmup is None:
        return None, ""
    started = date.fromisoformat(warmup.started)
    if today < started:
        return None, f"warmup starts on {started}"
    day = warmup_day(started, today, None)
    daily = schedules(settings.warmup)[warmup.schedule].limit(day, DEFAULT_GROUP)
    if vmta.setting.daily_limit is not None:
        daily = min(daily or vmta.setting.daily_limit, vmta.setting.daily_limit)
    if daily is None:
        return None, f"warm: schedule {warmup.schedule!r} ended before day {day}"
    hours = calendar.pool_sending_hours(settings, vmta.pool)
    hourly = hourly_limit(daily, hours, settings.warmup.burst)
    return hourly, (
        f"warmup day {day} on {today} (calendar days since {started}): {daily}/day"
        f" over {hours:g} h x {settings.warmup.burst:g}"
    )


def render(
    settings: Settings,
    vmtas: dict[str, Vmta],
    keys: dict[str, list[str]],
    today: date,
) -> str:
    """One block per VMTA; ``keys``: VMTA name -> its ``domain-key`` lines."""
    lines = [
        "# One VirtualMTA per pool IP (pools: vmta, ip, hostname). Add these blocks:",
        "# their names are Sluice's, and what they sign and pace is their own mail only.",
    ]
    if any(rate(settings, v, today)[0] is not None for v in vmtas.values()):
        lines += [
            "# max-msg-rate follows the warmup day: run sluice powermta-config again each day",
            "# (or take GET /api/powermta/config) and reload PowerMTA.",
        ]
    for name in sorted(vmtas):
        lines += _block(settings, vmtas[name], keys.get(name, []), today)
    return "\n".join(lines) + "\n"


def _block(settings: Settings, vmta: Vmta, keys: list[str], today: date) -> list[str]:
    per_hour, why = rate(settings, vmta, today)
    lines = [f"<virtual-mta {vmta.name}>", f"{INDENT}smtp-source-host {vmta.ip} {vmta.hostname}"]
    lines += [f"{INDENT}{key}" for key in keys]
    nested = []
    if keys:
        nested.append(f"{INDENT * 2}dkim-sign yes")
    if per_hour is not None:
        nested += [f"{INDENT * 2}# {why}", f"{INDENT * 2}max-msg-rate {per_hour}/h"]
    elif why:
        lines.append(f"{INDENT}# {why}")
    if nested:
        lines += [f"{INDENT}<domain *>", *nested, f"{INDENT}</domain>"]
    return [*lines, "</virtual-mta>"]


def vmtas_of(settings: Settings, error: Callable[[str, str], Exception]) -> dict[str, Vmta]:
    """Every pool IP's VMTA once, by name; one name for two IPs is an error."""
    out: dict[str, Vmta] = {}
    for pool in sorted(settings.pools):
        for k, ip in enumerate(settings.pools[pool]):
            vmta = Vmta(ip.vmta, ip.ip, ip.hostname, pool, ip)
            seen = out.setdefault(ip.vmta, vmta)
            if (seen.ip, seen.hostname) != (vmta.ip, vmta.hostname):
                raise error(
                    f"pools.{pool}[{k}].vmta",
                    f"VMTA {ip.vmta!r} is also {seen.ip} {seen.hostname} in another pool:"
                    " PowerMTA needs one name per source IP",
                )
    return out
