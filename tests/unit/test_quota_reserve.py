"""policy.quota.reserve: the IP for one recipient, chosen and reserved in one call."""

from collections.abc import Sequence
from datetime import UTC, datetime

from conf import PoolIp
from conf.schema import IpWarmup, WarmupSettings
from policy.counters import CounterUnavailable, Limit, Refusal, Reservation
from policy.counters.memory import MemoryCounters
from policy.providers import OTHER
from policy.quota.ipstate import IpRecord
from policy.quota.reserve import Ask, Granted, Refused, reserve
from policy.quota.selection import Planner
from policy.quota.states import IpState

# 2026-11-20 was day 1 of "ramp" (standard schedule: 75 a day, 6 an hour on day 2).
NOW = datetime(2026, 11, 21, 13, 30, tzinfo=UTC)
WARM = PoolIp(ip="192.0.2.10", vmta="warm", hostname="h")
RAMP = PoolIp(ip="192.0.2.12", vmta="ramp", hostname="h", warmup=IpWarmup(started="2026-11-20"))
SETTINGS = WarmupSettings(timezone="Europe/Paris")


def ask(ips: Sequence[PoolIp], **kw) -> Ask:
    return Ask(pool="p", ips=ips, domain="example.org", now=NOW, **kw)


async def test_first_recipient_takes_the_warming_ip_and_a_unit_of_each_of_its_limits():
    counters = MemoryCounters()
    decision = await reserve(Planner(SETTINGS), counters, None, ask((WARM, RAMP)))
    assert decision.group == OTHER
    assert isinstance(decision.outcome, Granted)
    assert decision.outcome.ip == RAMP
    reservation = decision.outcome.reservation
    assert reservation is not None
    assert set(reservation.keys) == {"day:192.0.2.12:2026-11-21", "hour:192.0.2.12:2026-11-21T14"}
    assert await counters.usage(reservation.keys) == dict.fromkeys(reservation.keys, 1)


async def test_an_unlimited_ip_is_granted_without_a_reservation():
    decision = await reserve(Planner(SETTINGS), MemoryCounters(), None, ask((WARM,)))
    assert decision.outcome == Granted(WARM, None)


async def test_a_later_recipient_must_fit_the_messages_ip():
    counters = MemoryCounters()
    planner = Planner(SETTINGS)
    for _ in range(6):  # the hour of day 2 holds 6
        fits = await reserve(planner, counters, None, ask((WARM, RAMP), ip=RAMP))
        assert isinstance(fits.outcome, Granted) and fits.outcome.ip == RAMP
    full = await reserve(planner, counters, None, ask((WARM, RAMP), ip=RAMP))
    assert full.outcome == Refused("does_not_fit")
    gone = await reserve(planner, counters, None, ask((WARM,), ip=RAMP))
    assert gone.outcome == Refused("does_not_fit")


async def test_a_full_pool_names_the_limit_that_frees_first():
    counters = MemoryCounters()
    planner = Planner(SETTINGS)
    for _ in range(6):
        await reserve(planner, counters, None, ask((RAMP,)))
    decision = await reserve(planner, counters, None, ask((RAMP,)))
    assert isinstance(decision.outcome, Refused)
    assert decision.outcome.why == "quota_reached"
    assert decision.outcome.quota is not None
    assert decision.outcome.quota.kind == "hourly"
    assert decision.outcome.quota.frees_at.hour == 15  # local (Paris) time


async def test_no_ip_in_rotation_says_which_are_stopped():
    states = {WARM.ip: IpRecord(WARM.ip, IpState.PAUSED, 0, "2026-11-21")}
    decision = await reserve(Planner(SETTINGS), MemoryCounters(), None, ask((WARM,), states=states))
    assert decision.outcome == Refused("out_of_rotation", stopped=("192.0.2.10 paused",))
    empty = await reserve(Planner(SETTINGS), MemoryCounters(), None, ask(()))
    assert empty.outcome == Refused("no_route")


class Down:
    async def usage(self, keys: Sequence[str]) -> dict[str, int]:
        raise CounterUnavailable("connection refused")

    async def reserve(self, limits: Sequence[Limit]) -> Reservation | Refusal:
        raise CounterUnavailable("connection refused")


async def test_a_counter_store_that_is_down_is_an_outcome_not_an_exception():
    decision = await reserve(Planner(SETTINGS), Down(), None, ask((RAMP,)))
    assert decision.outcome == Refused("unavailable", error="connection refused")
