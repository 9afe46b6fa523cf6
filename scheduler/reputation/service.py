"""The reputation watch as a supervised task: a cycle every ``reputation.interval``, jittered."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable

from conf import Settings
from scheduler.alerts import Alerter
from scheduler.reputation.cycle import run_cycle
from scheduler.reputation.effects import ReputationStores
from scheduler.supervisor import Supervisor

log = logging.getLogger("sluice.reputation")

TASK = "reputation"


def jittered(settings: Callable[[], Settings], draw: Callable[[], float] = random.random):
    """The next interval: ``interval`` within +-``jitter`` of it, so hosts do not ask in step."""

    def interval() -> float:
        cfg = settings().reputation
        if cfg is None:
            return 3600.0
        return cfg.interval * (1 + cfg.jitter * (2 * draw() - 1))

    return interval


def schedule(tasks: Supervisor, settings: Callable[[], Settings], store: ReputationStores) -> None:
    """Poll every jittered interval while the section is configured (read each round)."""
    alert = Alerter(settings)

    async def cycle() -> None:
        current = settings()
        if current.reputation is None:
            return
        report = await run_cycle(current, store, alert=alert)
        log.info(
            "reputation: %d queries in %.1f s, %d lists disabled, %d listed",
            report.queries,
            report.seconds,
            sum(1 for why in report.canaries.values() if why),
            sum(1 for s in report.standings if s.listed),
        )

    tasks.every(TASK, jittered(settings), cycle)
