"""A shutdown that cannot reach the database keeps its events on disk for the next start."""

from __future__ import annotations

import asyncio
from pathlib import Path

from gateway import journal
from policy.events import Event, Recorder
from policy.store import open_store


class Hung:
    """A database that never answers."""

    async def record(self, events):
        await asyncio.sleep(3600)


def event(i: int) -> Event:
    return Event("relayed", "acme", "127.0.0.1", "n@acme-mail.com", (f"r{i}@example.net",), at=i)


async def test_a_hung_store_at_shutdown_leaves_a_journal_the_next_start_writes(
    tmp_path: Path, store_url: str, monkeypatch
):
    monkeypatch.setattr(journal, "FINAL_FLUSH_TIMEOUT", 0.2)
    recorder = Recorder(Hung(), batch=2)
    for i in range(5):
        recorder.add(event(i))
    await journal.final_flush(recorder, tmp_path / "journal")
    [kept] = list((tmp_path / "journal").glob("*.jsonl"))
    assert journal.load(kept) == [event(i) for i in range(5)]  # the in-flight batch included
    assert not recorder.pending

    store = open_store(store_url)
    await store.open()
    try:
        assert await journal.replay(tmp_path / "journal", store) == 5
        assert await journal.replay(tmp_path / "journal", store) == 0  # once
        rows = await store.recent_events(10)
        assert sorted(r["recipients"] for r in rows) == [f"r{i}@example.net" for i in range(5)]
    finally:
        await store.close()
    assert not list((tmp_path / "journal").iterdir())


async def test_without_a_journal_the_loss_is_logged(caplog, monkeypatch):
    monkeypatch.setattr(journal, "FINAL_FLUSH_TIMEOUT", 0.1)
    recorder = Recorder(Hung())
    recorder.add(event(1))
    await journal.final_flush(recorder, None)
    assert "1 events could not be written and are lost" in caplog.text
