"""A scenario's figures: per step and variant, then per scenario."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from policy.scenarios.ledger import ScenarioRow
from policy.store import Store


def _rate(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


async def of(store: Store, row: ScenarioRow) -> dict[str, Any]:
    steps: dict[tuple[str, int], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for step, variant, status, n in await store.op_counts(row.tenant, row.name):
        if step.startswith("decide:"):
            continue
        steps[(step, max(variant, 0))][status] += n
    out = []
    for (step, variant), counts in sorted(steps.items()):
        engaged = {
            v: (s, o, c)
            for v, s, o, c in await store.variant_engagement(row.tenant, row.name, step)
        }
        sent, opens, clicks = engaged.get(variant, (0, 0, 0))
        out.append({
            "step": step, "variant": variant,
            "pending": counts["pending"] + counts["claimed"] + counts["sending"],
            "deferred": counts["deferred"], "sent": counts["executed"], "failed": counts["failed"],
            "cancelled": counts["cancelled"], "human_opens": opens, "human_clicks": clicks,
            "open_rate": _rate(opens, sent), "click_rate": _rate(clicks, sent),
        })  # fmt: skip
    enrollments = await store.enrollment_counts(row.tenant, row.name)
    replies: dict[str, dict[str, int]] = defaultdict(dict)
    for step, label, n in await store.reply_counts(row.tenant, row.name):
        replies[step][label] = n
    return {
        "name": row.name,
        "status": row.status,
        "version": row.version,
        "enrolled": sum(enrollments.values()),
        "active": enrollments.get("active", 0),
        "completed": enrollments.get("completed", 0),
        "stopped": enrollments.get("stopped", 0),
        "failed": enrollments.get("failed", 0),
        "steps": out,
        "winners": json.loads(row.winners),
        "replies": dict(replies),
    }
