"""Bounces and complaints of a window against what was relayed: by reason, IP and provider.

The store hands over recipients per (kind, ip, provider group, reply). A
feedback event's reply is "<status> <reason>" (``policy.feedback.decision.event``),
so the reason is its last word, one of ``policy.bounces.reasons``' names;
anything else (an event written before that form, or by hand) counts as
``undefined`` rather than inventing a reason.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from policy.bounces.reasons import KIND_OF, UNDEFINED

RELAYED, BOUNCED, COMPLAINED = "relayed", "bounced", "complained"


@dataclass(frozen=True)
class Tally:
    relayed: int = 0
    bounced: int = 0
    complained: int = 0

    def add(self, kind: str, count: int) -> Tally:
        return Tally(
            self.relayed + (count if kind == RELAYED else 0),
            self.bounced + (count if kind == BOUNCED else 0),
            self.complained + (count if kind == COMPLAINED else 0),
        )

    def as_dict(self) -> dict[str, int | float | None]:
        return {
            "relayed": self.relayed,
            "bounced": self.bounced,
            "complained": self.complained,
            "bounce_rate": _rate(self.bounced, self.relayed),
            "complaint_rate": _rate(self.complained, self.relayed),
        }


def _rate(part: int, whole: int) -> float | None:
    # None, not 0: nothing relayed means the rate is unknown, not perfect.
    return round(part / whole, 6) if whole else None


def reason_of(reply: str) -> str:
    words = reply.split()
    return words[-1] if words and words[-1] in KIND_OF else UNDEFINED


def summarize(rows: Iterable[tuple[str, str, str, str, int]]) -> dict[str, Any]:
    """Totals, ``by_reason`` (feedback only), ``by_ip`` and ``by_provider``, largest first."""
    total = Tally()
    by_ip: dict[str, Tally] = {}
    by_provider: dict[str, Tally] = {}
    by_reason: dict[str, Tally] = {}
    for kind, ip, provider, reply, count in rows:
        total = total.add(kind, count)
        by_ip[ip] = by_ip.get(ip, Tally()).add(kind, count)
        by_provider[provider] = by_provider.get(provider, Tally()).add(kind, count)
        if kind != RELAYED:
            reason = reason_of(reply)
            by_reason[reason] = by_reason.get(reason, Tally()).add(kind, count)
    reasons: list[dict[str, Any]] = []
    for reason, tally in by_reason.items():
        reasons.append(
            {
                "reason": reason,
                "class": KIND_OF.get(reason, "unknown"),
                "bounced": tally.bounced,
                "complained": tally.complained,
                # Shares of everything relayed in the window, like the totals' rates.
                "bounce_rate": _rate(tally.bounced, total.relayed),
                "complaint_rate": _rate(tally.complained, total.relayed),
            }
        )
    reasons.sort(key=lambda r: (-(r["bounced"] + r["complained"]), r["reason"]))
    return {
        "totals": total.as_dict(),
        "by_reason": reasons,
        "by_ip": _ranked("ip", by_ip),
        "by_provider": _ranked("provider", by_provider),
    }


def _ranked(name: str, tallies: dict[str, Tally]) -> list[dict[str, Any]]:
    order = sorted(tallies.items(), key=lambda kv: (-kv[1].relayed, -kv[1].bounced, kv[0]))
    return [{name: key, **tally.as_dict()} for key, tally in order]
