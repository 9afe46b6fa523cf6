"""The daemon's sequence parts: the scenario engine and the auto-enrollment of prospects,
each a supervised task of the first process (beside ``gateway/parts.py``'s)."""

from __future__ import annotations

from collections.abc import Callable

from conf import Settings
from gateway import submit
from gateway.parts import Relay
from policy.store import Store
from scheduler.enrollment import Enrollment
from scheduler.personalization import Personalizer
from scheduler.scenarios import store_catalog
from scheduler.scenarios.engine import Engine, EngineSettings
from scheduler.supervisor import Supervisor


def scenario_tasks(
    tasks: Supervisor, settings: Callable[[], Settings], relay: Relay, store: Store
) -> Engine | None:
    """The scenario engine (``scenarios`` task), sending through the in-process Submit."""
    s = settings().scenarios
    if not s.enabled:
        return None
    catalog = store_catalog.build(store)
    recorder = relay().recorder
    engine = Engine(
        store,
        submit.build(relay),
        catalog,
        settings,
        config=EngineSettings.of(s),
        record=recorder.add if recorder is not None else None,
    )
    tasks.every("scenarios", lambda: settings().scenarios.interval, engine.burst)
    return engine


def enrollment_tasks(
    tasks: Supervisor, settings: Callable[[], Settings], store: Store
) -> Enrollment | None:
    """Auto-enrollment of posted prospects (``enrollment`` task), with first lines written
    through the Personalizer (the ``ai:`` section as it was at start; its client is
    closed once the task has stopped)."""
    if not settings().enrollment.enabled:
        return None
    personalizer = Personalizer(settings().ai, store)
    task = Enrollment(store, settings, store_catalog.build(store), personalizer)
    tasks.every(
        "enrollment", lambda: settings().enrollment.interval, task.round,
        on_stop=personalizer.aclose,
    )  # fmt: skip
    return task
