"""A tenant's default scenario (``pauses_while_filtered``) is held while another runs."""

from __future__ import annotations

from scheduler.scenarios import lifecycle
from tests.e2e.test_scenarios import BODY, DAY, Rig, rig, started, subjects
from tests.support.scenarios import save
from tests.support.sink import Sink

__all__ = ["rig"]  # the fixture, shared with test_scenarios

DEFAULT = {
    **BODY,
    "name": "nurture",
    "window": None,
    "pauses_while_filtered": True,
    "steps": [BODY["steps"][0], {**BODY["steps"][2], "trigger": "delay", "delay": "1d"}],
}
PROMO = {
    **BODY,
    "name": "promo",
    "window": None,
    "steps": [BODY["steps"][0], {**BODY["steps"][2], "trigger": "delay", "delay": "3d"}],
}


async def status(rig: Rig, name: str) -> str:
    return (await rig.gw.store.scenario("acme", name)).status


async def test_held_while_another_runs_and_released_with_its_remaining_delay(rig: Rig, sink: Sink):
    await started(rig, DEFAULT, "d@example.net")
    await rig.engine.run_until_idle()
    assert subjects(sink, "d@example.net") == ["intro"]
    rig.clock.advance(3600)  # 23 h of the default's 1 d delay are left
    await started(rig, PROMO, "p@example.net")
    await rig.engine.run_until_idle()
    assert await status(rig, "nurture") == "held"
    rig.clock.advance(2 * DAY)  # the default's step fell due while held: not sent
    await rig.engine.run_until_idle()
    assert subjects(sink, "d@example.net") == ["intro"]
    rig.clock.advance(1.5 * DAY)  # the promotion's last step, then it completes
    await rig.engine.run_until_idle()
    await rig.engine.round()
    assert await status(rig, "promo") == "completed"
    assert await status(rig, "nurture") == "active"
    rig.clock.advance(23 * 3600 - 60)
    await rig.engine.run_until_idle()
    assert subjects(sink, "d@example.net") == ["intro"]
    rig.clock.advance(60)
    await rig.engine.run_until_idle()
    assert len(subjects(sink, "d@example.net")) == 2


async def test_side_by_side_does_not_hold_and_an_operator_pause_outlasts_the_hold(
    rig: Rig, sink: Sink
):
    await started(rig, DEFAULT, "d@example.net")
    await started(rig, {**PROMO, "side_by_side": True}, "p@example.net")
    await rig.engine.run_until_idle()
    assert await status(rig, "nurture") == "active"
    await save(rig.gw.store, {**PROMO, "name": "flash"})
    await lifecycle.act(rig.gw.store, "acme", "flash", "start", rig.clock())
    await rig.engine.round()
    assert await status(rig, "nurture") == "held"
    # The operator pauses the held default: it stays paused when the others end.
    assert await lifecycle.act(rig.gw.store, "acme", "nurture", "pause", rig.clock()) == "paused"
    await lifecycle.act(rig.gw.store, "acme", "flash", "cancel", rig.clock())
    await rig.engine.round()
    assert await status(rig, "nurture") == "paused"
    assert await lifecycle.act(rig.gw.store, "acme", "nurture", "resume", rig.clock()) == "active"
    rig.clock.advance(DAY)
    await rig.engine.run_until_idle()
    assert len(subjects(sink, "d@example.net")) == 2
