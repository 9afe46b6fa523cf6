"""The spool's storage on a real folder: durable writes, bounds, claims, adoption."""

import os
import time
from pathlib import Path

import pytest
from pydantic import ValidationError

from conf.schema.spool import SpoolSettings
from gateway import spool as spool_mod
from gateway.spool import Entry, Spool, SpoolFull, new_id, read_entry


def entry(n: int = 0, ip: str = "192.0.2.10") -> Entry:
    return Entry(
        id=new_id(),
        at=time.time(),
        mail_from="news@acme-mail.com",
        recipients=(f"r{n}@example.net",),
        tenant="acme",
        ip=ip,
        vmta="acme-1",
        message_id=f"<m{n}@acme-mail.com>",
        job="camp-1",
    )


def files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.is_file())


def test_settings_are_validated_and_closed() -> None:
    assert SpoolSettings().enabled and SpoolSettings().max_age == 86400
    assert not SpoolSettings(dir=None).enabled
    with pytest.raises(ValidationError):
        SpoolSettings(max_messages=0)
    with pytest.raises(ValidationError):
        SpoolSettings(unknown=1)  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        SpoolSettings().max_age = 5  # type: ignore[misc]


def test_put_list_claim_remove_oldest_first(tmp_path: Path) -> None:
    spool = Spool(SpoolSettings(dir=str(tmp_path)), owner="a")
    spool.open()
    written = [spool.put(entry(n), b"Subject: %d\r\n\r\nbody\r\n" % n) for n in range(5)]
    paths = spool.rescan()
    assert [p.stem for p in paths] == [e.id for e in written]
    assert spool.count == 5 and spool.bytes == sum(p.stat().st_size for p in paths)
    got, data = read_entry(paths[2])
    assert got == written[2] and data == b"Subject: 2\r\n\r\nbody\r\n"
    claimed = spool.claim(paths[:2])
    assert all(p.suffix == ".sending" for p in claimed) and read_entry(claimed[0])[0].claimed
    spool.unclaim(claimed[1:])
    spool.remove(claimed[:1])
    assert [p.stem for p in spool.rescan()] == [e.id for e in written[1:]]
    assert spool.count == 4
    spool.close()
    assert (tmp_path / "a").is_dir()  # not empty: kept, with its entries


def test_bounds_refuse_and_count_nothing(tmp_path: Path) -> None:
    spool = Spool(SpoolSettings(dir=str(tmp_path), max_messages=2), owner="a")
    spool.open()
    spool.put(entry(1), b"x")
    spool.put(entry(2), b"x")
    with pytest.raises(SpoolFull):
        spool.put(entry(3), b"x")
    assert spool.count == 2 and len(spool.rescan()) == 2
    small = Spool(SpoolSettings(dir=str(tmp_path / "b"), max_bytes=300), owner="b")
    small.open()
    with pytest.raises(SpoolFull):
        small.put(entry(1), b"x" * 400)
    assert small.count == 0 and small.bytes == 0


def test_a_failed_write_leaves_no_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spool = Spool(SpoolSettings(dir=str(tmp_path)), owner="a")
    spool.open()

    def broken(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(spool_mod.os, "fsync", broken)
    with pytest.raises(OSError):
        spool.put(entry(1), b"x" * 1000)
    monkeypatch.undo()
    assert files(tmp_path) == ["a.lock"]
    assert spool.count == 0 and spool.bytes == 0


def test_a_dead_owners_folder_is_adopted_a_live_ones_is_not(tmp_path: Path) -> None:
    s = SpoolSettings(dir=str(tmp_path))
    dead, live = Spool(s, owner="dead"), Spool(s, owner="live")
    dead.open()
    live.open()
    mine = [dead.put(entry(n), b"x") for n in range(3)]
    dead.claim(dead.rescan()[:1])  # it was sending the first one when it died
    (tmp_path / "dead" / ".half.tmp").write_bytes(b"unfinished")
    theirs = live.put(entry(9), b"y")
    assert dead._lock_fd is not None
    os.close(dead._lock_fd)  # kill -9: the lock goes, the folder stays
    survivor = Spool(s, owner="survivor")
    survivor.open()  # adopts the dead one's folder, leaves the live one's alone
    paths = survivor.rescan()
    assert [p.stem for p in paths] == [e.id for e in mine]
    assert [read_entry(p)[0].claimed for p in paths] == [True, False, False]
    assert not (tmp_path / "dead").exists() and not (tmp_path / "dead.lock").exists()
    assert [p.stem for p in live.rescan()] == [theirs.id]
    with pytest.raises(RuntimeError):
        Spool(s, owner="live").open()  # held


def test_a_failed_folder_fsync_removes_the_renamed_entry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spool = Spool(SpoolSettings(dir=str(tmp_path)), owner="a")
    spool.open()

    def broken(folder: Path) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(spool_mod, "_fsync_dir", broken)
    with pytest.raises(OSError):
        spool.put(entry(1), b"x" * 1000)
    assert files(tmp_path) == ["a.lock"]
    assert spool.count == 0 and spool.bytes == 0 and spool._writing == 0
