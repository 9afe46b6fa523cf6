"""The spool delivery task's decisions, on a real spool folder with a scripted PowerMTA."""

import time
from dataclasses import dataclass
from pathlib import Path

from conf.schema.spool import SpoolSettings
from gateway.spool import Entry, Spool, new_id, read_entry
from policy.events import Event
from scheduler.spool_delivery import SpoolDelivery


@dataclass
class Reply:
    outcome: str
    reply: str


def fill(tmp_path: Path, count: int, *, at: float | None = None) -> tuple[Spool, list[str]]:
    spool = Spool(SpoolSettings(dir=str(tmp_path)), owner="me")
    spool.open()
    ids = []
    for n in range(count):
        entry = Entry(
            id=new_id(),
            at=at or time.time(),
            mail_from="news@acme-mail.com",
            recipients=(f"r{n}@example.net",),
            tenant="acme",
            ip="192.0.2.10",
            vmta="acme-1",
            message_id=f"<m{n}@acme-mail.com>",
        )
        ids.append(spool.put(entry, b"Subject: x\r\n\r\nbody\r\n").id)
    return spool, ids


def task(spool: Spool, script: list[Reply], **settings: float) -> tuple[SpoolDelivery, dict]:
    seen: dict[str, list] = {"sent": [], "events": [], "reports": []}

    async def deliver(entry: Entry, data: bytes) -> Reply:
        seen["sent"].append(entry.recipients[0])
        return script.pop(0) if script else Reply("relayed", "250 2.0.0 ok")

    async def report(records: list[dict]) -> int:
        seen["reports"].extend(records)
        return len(records)

    def record(event: Event) -> None:
        seen["events"].append(event)

    s = SpoolSettings(dir=str(spool.root), **settings)  # type: ignore[arg-type]
    return SpoolDelivery(spool, read_entry, deliver, report, record, lambda: s), seen


async def test_powermta_away_pauses_the_round_and_keeps_every_entry_ready(tmp_path: Path) -> None:
    spool, ids = fill(tmp_path, 3)
    delivery, seen = task(spool, [Reply("deferred", "breaker open")])
    await delivery.round()
    assert seen["sent"] == ["r0@example.net"]
    assert [p.name for p in spool.rescan()] == [f"{i}.msg" for i in ids]
    assert delivery.failures == 1 and delivery.next_try > time.time()
    await delivery.round()  # within the backoff: nothing tried
    assert len(seen["sent"]) == 1
    delivery.flush()
    await delivery.round()
    assert spool.rescan() == [] and [e.kind for e in seen["events"]] == ["relayed"] * 3


async def test_one_refused_entry_waits_the_others_go_on(tmp_path: Path) -> None:
    spool, ids = fill(tmp_path, 3)
    delivery, seen = task(spool, [Reply("deferred", "451 4.2.0 try later")])
    await delivery.round()
    assert seen["sent"][:3] == ["r0@example.net", "r1@example.net", "r2@example.net"]
    assert [p.name for p in spool.rescan()] == [f"{ids[0]}.msg"]


async def test_after_the_dot_it_stays_claimed_and_is_a_possible_duplicate_when_resent(
    tmp_path: Path,
) -> None:
    spool, ids = fill(tmp_path, 2)
    delivery, seen = task(spool, [Reply("possible_duplicate", "timeout")])
    await delivery.round()
    assert [p.name for p in spool.rescan()] == [f"{ids[0]}.sending", f"{ids[1]}.msg"]
    delivery.flush()
    await delivery.round()
    assert [(e.kind, e.recipients) for e in seen["events"]] == [
        ("possible_duplicate", ("r0@example.net",)),
        ("relayed", ("r1@example.net",)),
    ]
    assert spool.rescan() == []


async def test_5xx_and_expiry_are_reported_as_bounces_and_removed(tmp_path: Path) -> None:
    spool, _ = fill(tmp_path, 1, at=time.time() - 100)
    fresh = Entry(new_id(), time.time(), "news@acme-mail.com", ("b@example.net",), "acme", "", "v")
    spool.put(fresh, b"x")
    delivery, seen = task(spool, [Reply("rejected", "550 5.1.1 no such user")], max_age=50)
    await delivery.round()
    expired, refused = seen["reports"]
    assert (expired["rcpt"], expired["bounceCat"], expired["dsnStatus"]) == (
        "r0@example.net",
        "message-expired",
        "4.4.7",
    )
    assert (refused["rcpt"], refused["dsnStatus"], refused["bounceCat"]) == (
        "b@example.net",
        "5.1.1",
        "",  # the classifier reads the reply
    )
    assert spool.rescan() == [] and seen["sent"] == ["b@example.net"]


async def test_an_unreadable_entry_is_left_aside_not_in_the_way(tmp_path: Path) -> None:
    spool, ids = fill(tmp_path, 2)
    (spool.folder / f"{ids[0]}.msg").write_bytes(b"not json\nbody")
    delivery, seen = task(spool, [])
    await delivery.round()
    assert seen["sent"] == ["r1@example.net"] and delivery.failures == 0
    assert [p.name for p in spool.rescan()] == [f"{ids[0]}.msg"]
