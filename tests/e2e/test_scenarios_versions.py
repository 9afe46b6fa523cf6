"""Editing a started scenario: new enrollments take the new version, existing ones keep
theirs until an operator migrates them, and a migration refuses what would break."""

from __future__ import annotations

from scheduler.scenarios import lifecycle
from tests.e2e.test_scenarios import BODY, DAY, Rig, rig, started, subjects
from tests.support.scenarios import save
from tests.support.sink import Sink

__all__ = ["rig"]  # the fixture, shared with test_scenarios

V1 = {
    **BODY,
    "window": None,
    "steps": [BODY["steps"][0], {**BODY["steps"][2], "trigger": "delay", "delay": "3d"}],
}
V2 = {**V1, "steps": [V1["steps"][0], {**V1["steps"][1], "variants": [{"template": "last"}]}]}


async def test_existing_enrollments_keep_their_version_until_migrated(rig: Rig, sink: Sink):
    await started(rig, V1, "a@example.net", "b@example.net", "c@example.net")
    await rig.engine.run_until_idle()
    assert await save(rig.gw.store, V2, rig.clock()) == 2
    moved = await lifecycle.migrate(rig.gw.store, "acme", "intro-fr", ["A@example.net"])
    assert (moved.version, moved.moved, moved.skipped) == (2, ["a@example.net"], [])
    again = await lifecycle.migrate(rig.gw.store, "acme", "intro-fr", ["a@example.net"])
    assert again.moved == []  # already on the current version
    rig.clock.advance(3 * DAY)
    await rig.engine.run_until_idle()
    assert subjects(sink, "a@example.net") == ["intro", "last"]
    assert subjects(sink, "b@example.net")[1] in ("nudge-a", "nudge-b")


async def test_a_migration_refuses_a_step_the_current_version_lacks(rig: Rig, sink: Sink):
    await started(rig, V1, "a@example.net")
    await rig.engine.run_until_idle()
    entry, nudge = V1["steps"]
    renamed = {**V1, "steps": [{**entry, "id": "hello"}, {**nudge, "parent": "hello"}]}
    await save(rig.gw.store, renamed, rig.clock())
    out = await lifecycle.migrate(rig.gw.store, "acme", "intro-fr")
    assert out.moved == []
    assert out.skipped == [("a@example.net", "step 'intro' is not in the current version")]
    rig.clock.advance(3 * DAY)
    await rig.engine.run_until_idle()  # it goes on, on its own version
    assert len(subjects(sink, "a@example.net")) == 2
