"""The feedback tables pass one contract on both stores: PostgreSQL (real server) and SQLite."""

from policy.events import Event
from policy.suppression import Suppression


async def test_soft_bounces_count_once_per_key_within_the_window(store):
    count = store.count_soft_bounce
    assert await count("acme", "b@example.net", "k1", 1000.0, 0.0) == 1
    assert await count("acme", "b@example.net", "k1", 1000.0, 0.0) == 1  # a re-read
    assert await count("acme", "b@example.net", "k2", 2000.0, 0.0) == 2
    assert await count("beta", "b@example.net", "k3", 2000.0, 0.0) == 1  # another tenant
    assert await count("acme", "b@example.net", "k4", 3000.0, 1500.0) == 2  # k1 fell out
    assert await store.prune_soft_bounces(1500.0) == 1
    assert await count("acme", "b@example.net", "k5", 3000.0, 0.0) == 3


async def test_suppression_entry_reads_one_active_row(store):
    assert await store.suppression_entry("acme", "b@example.net") is None
    await store.suppress([Suppression("acme", "b@example.net", "hard_bounce", "dsn:userunknown")])
    entry = await store.suppression_entry("acme", "b@example.net")
    assert entry is not None and entry.reason == "hard_bounce" and entry.source == "dsn:userunknown"
    await store.unsuppress("acme", ["b@example.net"])
    assert await store.suppression_entry("acme", "b@example.net") is None


async def test_accounting_positions_are_saved_and_replaced(store):
    assert await store.accounting_position("64769:12") is None
    await store.save_accounting_position("64769:12", "/pmta/acct-1.csv", "ab12", 100, 1.0)
    await store.save_accounting_position("64769:12", "/pmta/acct-1.csv.1", "ab12", 250, 2.0)
    assert await store.accounting_position("64769:12") == ("ab12", 250)


async def test_feedback_counts_by_ip_provider_and_kind(store):
    def ev(kind: str, ip: str, at: float, rcpts: int = 1, provider: str = "google") -> Event:
        recipients = tuple(f"r{i}@gmail.com" for i in range(rcpts))
        return Event(kind, "acme", "c", "", recipients, ip=ip, at=at, provider=provider)

    await store.record(
        [
            ev("relayed", "192.0.2.10", 100.0, rcpts=3),
            ev("relayed", "192.0.2.10", 150.0),
            ev("bounced", "192.0.2.10", 160.0),
            ev("complained", "192.0.2.10", 170.0, provider="yahoo"),
            ev("bounced", "192.0.2.11", 50.0),  # before the window
            ev("rejected", "192.0.2.10", 160.0),  # not a kind the rates read
        ]
    )
    rows = sorted(await store.feedback_counts(60.0, 200.0))
    assert rows == [
        ("192.0.2.10", "google", "bounced", 1),
        ("192.0.2.10", "google", "relayed", 4),
        ("192.0.2.10", "yahoo", "complained", 1),
    ]


async def test_notification_queue_claims_leases_retries_and_finishes(store):
    assert await store.enqueue_notifications([("mailwizz\tacme\thttp://x", '{"a":1}')] * 3, 100.0)
    first = await store.claim_notifications(100.0, 200.0, 2)
    assert [(t, p, a) for _, t, p, a in first] == [("mailwizz\tacme\thttp://x", '{"a":1}', 0)] * 2
    rest = await store.claim_notifications(100.0, 200.0, 10)  # the first two are leased
    assert len(rest) == 1
    await store.finish_notifications([first[0][0]])
    await store.retry_notifications([first[1][0]], 500.0, "HTTP 503")
    assert await store.claim_notifications(300.0, 400.0, 10) == [(*rest[0][:3], 0)]
    again = await store.claim_notifications(500.0, 600.0, 10)
    assert [(i, a) for i, _, _, a in again] == [(first[1][0], 1), (rest[0][0], 0)]
    assert await store.pending_notifications() == 2


async def test_suppression_entries_reads_many_at_once(store):
    addresses = [f"u{i}@example.net" for i in range(1200)]
    await store.suppress([Suppression("acme", a, "hard_bounce") for a in addresses[::2]])
    await store.suppress([Suppression("beta", "u1@example.net", "complaint")])
    found = await store.suppression_entries("acme", [*addresses, "u0@example.net"])
    assert sorted(found) == sorted(addresses[::2])
    assert found["u0@example.net"].reason == "hard_bounce"
    assert await store.suppression_entries("acme", []) == {}


async def test_feedback_events_are_written_once_per_key(store):
    def event(rcpt: str, at: float = 100.0) -> Event:
        return Event(
            kind="bounced", tenant="acme", client="acct", mail_from="", recipients=(rcpt,), at=at
        )

    first = await store.record_feedback([("k1", event("a@x.net")), ("k2", event("b@x.net"))])
    assert [e.recipients for e in first] == [("a@x.net",), ("b@x.net",)]
    again = await store.record_feedback(
        [("k2", event("b@x.net")), ("k3", event("c@x.net")), ("k3", event("c@x.net"))]
    )
    assert [e.recipients for e in again] == [("c@x.net",)]
    assert sorted(e["recipients"] for e in await store.recent_events(10)) == [
        "a@x.net",
        "b@x.net",
        "c@x.net",
    ]
    assert await store.prune_feedback_keys(before=101.0) == 3
    assert len(await store.record_feedback([("k1", event("a@x.net"))])) == 1
