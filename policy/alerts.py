"""Alerts: which to send (deduplicated, rate-limited) and what they say. Pure.

An alert names its condition by ``key`` (``dnsbl:<target>:<zone>``); it is
firing or resolved. A firing alert is sent when its condition was not
already announced within ``repeat`` seconds; a resolved one when the
condition was announced as firing, or when it is ``sure`` (a delisting
confirmed by the store's standings, announced even after a restart forgot
the firing one). At most ``max_per_minute`` are sent in any minute.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Alert:
    key: str
    firing: bool
    title: str
    text: str
    at: float
    sure: bool = False  # send a resolved alert even when its firing one is not known


@dataclass
class AlertState:
    firing: dict[str, float] = field(default_factory=dict)  # key: when last announced
    sent: deque[float] = field(default_factory=deque)  # send times in the last minute


def should_send(
    alert: Alert, state: AlertState, now: float, repeat: float, max_per_minute: int
) -> bool:
    """Whether to send `alert` now; updates `state` as if it were sent."""
    if alert.firing:
        last = state.firing.get(alert.key)
        if last is not None and now - last < repeat:
            return False
    elif alert.key not in state.firing and not alert.sure:
        return False
    while state.sent and now - state.sent[0] >= 60:
        state.sent.popleft()
    if len(state.sent) >= max_per_minute:
        return False  # not recorded as announced: the next cycle tries again
    if alert.firing:
        state.firing[alert.key] = now
    else:
        state.firing.pop(alert.key, None)
    state.sent.append(now)
    return True


def message(alert: Alert) -> str:
    """One line for the log and for Telegram."""
    mark = "FIRING" if alert.firing else "RESOLVED"
    return f"[Sluice {mark}] {alert.title}: {alert.text}"


def webhook_body(alert: Alert) -> bytes:
    status = "firing" if alert.firing else "resolved"
    payload: dict[str, str | float] = {"alert": alert.key, "status": status, "title": alert.title}
    payload |= {"text": alert.text, "at": alert.at}
    return json.dumps(payload, separators=(",", ":")).encode()
