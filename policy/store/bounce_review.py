"""Suppressions caused by bounces whose reading deserves an operator's look.

A hard bounce suppresses its address until someone removes it. Most are
read from the recipient's own words ("550 5.1.1 <a@b>: no such user"); some
rest on a status code alone or on text that is not the recipient's own
(``policy.bounces.decide.LOW_CONFIDENCE``). Those are listed here, with the
rule and the text each fired on, so that ``sluice suppress remove`` can undo
the wrong ones. The reading is taken from the newest bounce event of the
address (``events.detail``); a suppression older than those details has none
and is listed only when asked for every one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from policy.feedback.decision import BOUNCED
from policy.store.admin_sql import EventFilter
from policy.suppression import Suppression

if TYPE_CHECKING:
    from policy.store import Store

_PAGE = 500


@dataclass(frozen=True)
class ReviewItem:
    suppression: Suppression
    rule: str = ""  # "" when no bounce event with a reading was found
    evidence: str = ""
    confidence: str = ""
    event_at: float | None = None


async def readings(
    store: Store, tenant: str | None, scan: int
) -> dict[tuple[str, str], dict[str, Any]]:
    """The newest reading of each bounced address, from the last ``scan`` bounce events."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    before, seen = 0, 0
    filters = EventFilter(tenant=tenant, kinds=(BOUNCED,))
    while seen < scan:
        rows = await store.event_page(filters, before, min(_PAGE, scan - seen))
        if not rows:
            break
        for row in rows:
            detail = row.get("detail") or {}
            recipients = row.get("recipients") or []
            if isinstance(recipients, str):
                recipients = recipients.split(",")
            for address in recipients:
                key = (row.get("tenant", ""), address.lower())
                if detail.get("rule") and key not in out:
                    out[key] = {**detail, "at": row.get("at")}
        seen += len(rows)
        before = rows[-1]["id"]
    return out


async def to_review(
    store: Store, tenant: str | None = None, *, scan: int = 50_000, everything: bool = False
) -> list[ReviewItem]:
    """Active hard-bounce suppressions read with low confidence (all of
    them, with their reading where known, when ``everything``)."""
    now = time.time()
    entries = [
        s for s in await store.suppressions(tenant) if s.reason == "hard_bounce" and s.active(now)
    ]
    if not entries:
        return []
    known = await readings(store, tenant, scan)
    out = []
    for s in entries:
        reading = known.get((s.tenant, s.address))
        if reading is None:
            if everything:
                out.append(ReviewItem(s))
            continue
        if everything or reading.get("confidence") == "low":
            out.append(
                ReviewItem(
                    s,
                    rule=str(reading.get("rule", "")),
                    evidence=str(reading.get("evidence", "")),
                    confidence=str(reading.get("confidence", "")),
                    event_at=reading.get("at"),
                )
            )
    return out
