"""The alerts other parts raise, one builder each, so their keys and words stay stable. Pure.

Each builder answers the Alert for the condition as it is now, firing or
resolved; policy.alerts sends a firing one once (again after ``repeat``) and
a resolved one only after its firing one was announced, so a caller may hand
every check's result to the Alerter (scheduler/alerts.py) each time.

``dns_check`` is the hook for the DNS authentication checks (SPF, DKIM,
DMARC, MX, PTR of a sending domain or IP): call it with the problems found,
an empty list meaning all is well.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence

from policy.alerts import Alert


def dns_check(target: str, problems: Sequence[str], now: float) -> Alert:
    return Alert(
        key=f"dns-check:{target}",
        firing=bool(problems),
        title=f"DNS check failed for {target}" if problems else f"DNS check passes for {target}",
        text="; ".join(problems)
        if problems
        else "SPF, DKIM, DMARC, PTR, MX and tracking DNS as expected",
        at=now,
    )


def downstream_down(down_since: float | None, now: float, after: float) -> Alert:
    """PowerMTA unreachable (the breaker open) for more than `after` seconds."""
    down = down_since is not None and now - down_since > after
    lasted = f"{now - down_since:.0f}s" if down_since is not None else "0s"
    return Alert(
        key="downstream-down",
        firing=down,
        title="PowerMTA unreachable" if down else "PowerMTA reachable again",
        text=f"for {lasted}; mail goes to the fallback spool" if down else "relaying resumed",
        at=now,
    )


def spool_growing(samples: Sequence[tuple[float, int]], now: float, window: float) -> Alert:
    """The fallback spool only grew over the last `window` seconds (samples: time, messages)."""
    recent = [count for at, count in samples if now - at <= window]
    covered = bool(samples) and now - samples[0][0] >= window
    growing = covered and len(recent) >= 2 and recent[-1] > recent[0]
    growing = growing and all(b >= a for a, b in itertools.pairwise(recent))
    size = recent[-1] if recent else 0
    return Alert(
        key="spool-growing",
        firing=growing,
        title=f"Fallback spool growing: {size} messages" if growing else "Fallback spool draining",
        text=f"grew for {window:.0f}s without delivering" if growing else f"{size} messages",
        at=now,
    )


def tasks_stalled(late: Iterable[str], known: Iterable[str], now: float) -> list[Alert]:
    """One alert per supervised task; `late` holds the names of those behind."""
    behind = set(late)
    return [
        Alert(
            key=f"task-stalled:{name}",
            firing=name in behind,
            title=f"Task {name} stalled" if name in behind else f"Task {name} running again",
            text="no successful round for several intervals" if name in behind else "on time",
            at=now,
        )
        for name in sorted(set(known) | behind)
    ]


def quota_exhausted(tenant: str, exhausted: bool, now: float) -> Alert:
    return Alert(
        key=f"quota-exhausted:{tenant}",
        firing=exhausted,
        title=f"Tenant {tenant} exhausted its quota" if exhausted else f"Tenant {tenant} has quota",
        text="further mail is deferred until the quota resets" if exhausted else "sending again",
        at=now,
    )


def ip_quarantined(ip: str, reason: str, now: float) -> Alert:
    """``reason`` empty: the IP is out of quarantine again."""
    return Alert(
        key=f"ip-quarantined:{ip}",
        firing=bool(reason),
        title=f"IP {ip} quarantined" if reason else f"IP {ip} out of quarantine",
        text=reason or "back in service (cleared or restarted)",
        at=now,
    )


def reply_hot(tenant: str, email: str, scenario: str, step: str, label: str, now: float) -> Alert:
    """An interested or meeting-request reply: someone should answer it (once per contact)."""
    words = "asks for a meeting" if label == "meeting_request" else "is interested"
    return Alert(
        key=f"reply:{tenant}:{scenario}:{email}",
        firing=True,
        title=f"Reply from {email} ({tenant})",
        text=f"{email} {words}: reply to scenario {scenario}, step {step}",
        at=now,
    )
