"""Both event stores pass one contract: PostgreSQL (real server) and SQLite."""

import pytest

from policy.events import Event, Recorder


def event(i: int, kind: str = "relayed") -> Event:
    return Event(
        kind=kind,
        tenant="acme",
        client="10.0.0.1",
        mail_from="a@acme.example",
        recipients=(f"r{i}@example.net", "x@example.net"),
        message_id=f"<{i}@x>",
        ip="192.0.2.10",
        vmta="acme-1",
        size=1000 + i,
        reply="250 2.0.0 OK",
        ms=1.5,
    )


async def test_record_and_read_back(store):
    await store.ping()
    await store.record([event(1), event(2, "deferred")])
    rows = await store.recent_events()
    assert [r["kind"] for r in rows] == ["deferred", "relayed"]
    assert rows[1]["recipients"] == "r1@example.net,x@example.net" and rows[1]["size"] == 1001


async def test_recorder_batches_and_keeps_events_while_the_store_fails(store):
    recorder = Recorder(store, capacity=5, batch=2)
    for i in range(7):
        recorder.add(event(i))
    assert recorder.dropped == 2 and len(recorder.pending) == 5  # oldest dropped, counted
    assert await recorder.flush() == 5
    assert len(await store.recent_events()) == 5


async def test_a_store_opened_twice_is_refused_and_keeps_its_first_connection(store):
    # A second open would replace the connection or pool without closing it.
    with pytest.raises(AssertionError, match="already open"):
        await store.open()
    await store.ping()


async def test_sqlite_opened_by_several_processes_at_once(tmp_path):
    # Workers forked by the daemon all open the same file at start-up.
    import asyncio
    import sys

    code = (
        "import asyncio, sys; from policy.store import open_store\n"
        "async def main():\n"
        f"    s = open_store('sqlite:///{tmp_path}/shared.db'); await s.open(); await s.close()\n"
        "asyncio.run(main())\n"
    )
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-c", code, stderr=asyncio.subprocess.PIPE
        )
        for _ in range(8)
    ]
    results = [await p.communicate() for p in procs]
    assert [p.returncode for p in procs] == [0] * 8, [err for _, err in results]


async def test_a_flush_cancelled_mid_write_never_writes_a_batch_twice():
    import asyncio

    class SlowStore:
        def __init__(self) -> None:
            self.batches: list[list[Event]] = []
            self.gate = asyncio.Event()
            self.writing = asyncio.Event()

        async def record(self, events) -> None:
            self.writing.set()
            await self.gate.wait()
            self.batches.append(list(events))

    store = SlowStore()
    recorder = Recorder(store, batch=2)
    for i in range(3):
        recorder.add(event(i))
    task = asyncio.create_task(recorder.flush())
    await asyncio.wait_for(store.writing.wait(), 5)
    task.cancel()  # shutdown cancels the writer while the store is committing
    store.gate.set()
    assert await recorder.flush() == 3
    assert [[e.size for e in b] for b in store.batches] == [[1000, 1001], [1002]]
    assert await recorder.flush() == 0


def test_migration_versions_only_go_up():
    # The runner applies the versions above the highest applied: one added below it
    # would never run on a database that already has the higher one.
    from policy.store.schema import MIGRATIONS

    versions = [v for v, _ in MIGRATIONS]
    assert versions == sorted(set(versions))
