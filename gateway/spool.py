"""The fallback spool: messages PowerMTA could not take, kept on disk until it can.

MailWizz never retries a 4xx, so while PowerMTA refuses with a 4xx, times
out before DATA, or is down, the relay step writes the signed message here
and only then answers 250 (``replies.spooled``); ``scheduler.spool_delivery``
hands it to PowerMTA later.

Layout: ``<dir>/<owner>/<id>.msg`` where ``<owner>`` is ``<host>-<pid>`` and
``<dir>/<owner>.lock`` is held (``fcntl.flock``) for the owner's life. An
entry is one file: a JSON header line (envelope, tenant, IP, VMTA,
message-id, job), then the message bytes. It is written under a temporary
name in the same folder, fsynced, renamed, and the folder fsynced: once
``put`` returns, a crash loses nothing; a write that fails leaves nothing.
Ids start with the time in nanoseconds, so names sort oldest first.

Custody: ``claim`` renames an entry to ``<id>.sending`` (folder fsynced)
before it is sent, and ``remove`` deletes it only after PowerMTA's 250.
An entry found as ``.sending`` was perhaps delivered before a crash: it is
sent again (a duplicate is preferred to a loss) and logged as such.

A lock that nobody holds belongs to a process that died: ``adopt`` moves its
entries into this process's folder, so a ``kill -9`` of any worker loses
nothing as long as one process (or its restart) runs on the same folder.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from prometheus_client import Counter, Gauge

from conf.schema.spool import SpoolSettings

log = logging.getLogger("sluice.spool")

READY, SENDING, TMP = ".msg", ".sending", ".tmp"

MESSAGES = Gauge("sluice_spool_messages", "Messages in the spool", multiprocess_mode="livesum")
BYTES = Gauge("sluice_spool_bytes", "Bytes in the spool", multiprocess_mode="livesum")
OLDEST = Gauge(
    "sluice_spool_oldest_age_seconds",
    "Age of the oldest message in the spool",
    multiprocess_mode="livemax",
)
WRITTEN = Counter("sluice_spool_written_total", "Messages written to the spool", ["result"])


class SpoolFull(Exception):
    """No room under ``spool.max_messages`` or ``spool.max_bytes``."""


@dataclass(frozen=True)
class Entry:
    id: str
    at: float  # unix time it was spooled
    mail_from: str
    recipients: tuple[str, ...]
    tenant: str
    ip: str
    vmta: str
    message_id: str = ""
    job: str = ""
    smtputf8: bool = False
    size: int = 0  # the message's bytes
    claimed: bool = False  # found as .sending: a send may already have reached PowerMTA

    def header(self) -> bytes:
        fields = asdict(self)
        fields.pop("claimed")
        fields["recipients"] = list(self.recipients)
        return json.dumps(fields, separators=(",", ":")).encode() + b"\n"


def new_id(now_ns: int | None = None) -> str:
    return f"{now_ns or time.time_ns():020d}-{secrets.token_hex(4)}"


def read_entry(path: Path) -> tuple[Entry, bytes]:
    """The entry stored at ``path`` and its message."""
    raw = path.read_bytes()
    head, _, data = raw.partition(b"\n")
    fields = json.loads(head)
    fields["recipients"] = tuple(fields["recipients"])
    return Entry(**fields, claimed=path.suffix == SENDING), data


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _lock(path: Path) -> int | None:
    """An exclusive hold on ``path`` (created if missing), or None when another holds it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        # Taken after its owner unlinked it (adopted meanwhile): not a lock any more.
        if os.fstat(fd).st_ino != os.stat(path).st_ino:
            raise BlockingIOError
    except (BlockingIOError, FileNotFoundError):
        os.close(fd)
        return None
    return fd


class Spool:
    """One process's spool folder, plus whatever it adopts from dead owners."""

    def __init__(self, settings: SpoolSettings, *, owner: str | None = None):
        assert settings.dir is not None, "spool.dir is null: the spool is off"
        self.settings = settings
        self.root = Path(settings.dir)
        self.owner = owner or f"{socket.gethostname()}-{os.getpid()}"
        self.folder = self.root / self.owner
        self.count = 0
        self.bytes = 0
        self._mutex = threading.Lock()  # puts run in threads; the counts are shared
        self._writing = 0  # puts between their room taken and their rename
        self._lock_fd: int | None = None

    def open(self) -> None:
        """Take this process's folder and every orphaned one (blocking: call in a thread)."""
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock_fd = _lock(self.root / f"{self.owner}.lock")
        if self._lock_fd is None:
            raise RuntimeError(f"spool {self.folder} is held by another process")
        self.folder.mkdir(exist_ok=True)
        for stale in self.folder.glob(f"*{TMP}"):
            stale.unlink()  # an unfinished write: its sender never got 250
        self.adopt()
        self.rescan()

    def close(self) -> None:
        """Let go of the folder; an empty one is removed (its lock after it)."""
        if self._lock_fd is None:
            return
        with contextlib.suppress(OSError):
            self.folder.rmdir()  # only when empty
            (self.root / f"{self.owner}.lock").unlink()
        os.close(self._lock_fd)
        self._lock_fd = None

    # -- writing ---------------------------------------------------------------

    def has_room(self, size: int = 0) -> bool:
        s = self.settings
        return self.count < s.max_messages and self.bytes + size <= s.max_bytes

    def put(self, entry: Entry, data: bytes) -> Entry:
        """Write ``entry`` durably (blocking: call in a thread); SpoolFull when over a bound."""
        head = entry.header()
        size = len(head) + len(data)
        with self._mutex:
            if not self.has_room(size):
                WRITTEN.labels("full").inc()
                raise SpoolFull(f"spool full: {self.count} messages, {self.bytes} bytes")
            self.count += 1
            self.bytes += size
            self._writing += 1
        tmp = self.folder / f".{entry.id}{TMP}"
        final = self.folder / f"{entry.id}{READY}"
        try:
            with open(tmp, "wb") as f:
                f.write(head)
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            with self._mutex:  # a rescan sees it either as being written or on disk
                os.replace(tmp, final)
                self._writing -= 1
                tmp = final  # from here a failure removes the entry itself
            _fsync_dir(self.folder)
        except BaseException:
            # The sender hears a 4xx: nothing of this message may stay behind.
            with contextlib.suppress(OSError):
                tmp.unlink()
            with self._mutex:
                if tmp != final:  # failed before its rename
                    self._writing -= 1
                self.count -= 1
                self.bytes -= size
            WRITTEN.labels("failed").inc()
            raise
        WRITTEN.labels("ok").inc()
        self._publish()
        return entry

    # -- reading and delivering ------------------------------------------------

    def names(self) -> list[Path]:
        """The entries of this process's folder, oldest first."""
        found = [p for p in self.folder.iterdir() if p.suffix in (READY, SENDING)]
        return sorted(found, key=lambda p: p.stem)

    def rescan(self) -> list[Path]:
        """The entries, oldest first; the counts set again from the folder (self-healing).

        Only while no write is under way: a write's room is counted before its file exists.
        """
        with self._mutex:
            paths = self.names()
            if not self._writing:
                total = 0
                for p in paths:
                    with contextlib.suppress(FileNotFoundError):
                        total += p.stat().st_size
                self.count, self.bytes = len(paths), total
        self._publish(paths)
        return paths

    def claim(self, paths: Sequence[Path]) -> list[Path]:
        """Mark entries as being sent (one folder fsync); those gone meanwhile are left out."""
        out = []
        for p in paths:
            if p.suffix == SENDING:
                out.append(p)
                continue
            target = p.with_suffix(SENDING)
            try:
                os.rename(p, target)
            except FileNotFoundError:
                continue  # deleted by an operator
            out.append(target)
        if out:
            _fsync_dir(self.folder)
        return out

    def unclaim(self, paths: Sequence[Path]) -> None:
        """Entries that were not sent after all (PowerMTA deferred them): ready again."""
        for p in paths:
            with contextlib.suppress(FileNotFoundError):
                os.rename(p, p.with_suffix(READY))
        if paths:
            _fsync_dir(self.folder)

    def remove(self, paths: Sequence[Path]) -> None:
        """Delete entries that PowerMTA took (or that were reported as bounces)."""
        for p in paths:
            try:
                size = p.stat().st_size
                p.unlink()
            except FileNotFoundError:
                continue
            with self._mutex:
                self.count -= 1
                self.bytes -= size
        if paths:
            _fsync_dir(self.folder)
        self._publish()

    def adopt(self) -> int:
        """Move the entries of every folder whose owner died into this one; how many."""
        moved = 0
        for lock_path in self.root.glob("*.lock"):
            name = lock_path.stem
            if name == self.owner:
                continue
            fd = _lock(lock_path)
            if fd is None:
                continue  # its owner is alive
            try:
                moved += self._take_over(self.root / name)
                lock_path.unlink()
            finally:
                os.close(fd)
        if moved:
            _fsync_dir(self.folder)
            self.rescan()
        return moved

    def _take_over(self, orphan: Path) -> int:
        if not orphan.is_dir():
            return 0
        moved = 0
        for p in orphan.iterdir():
            if p.suffix in (READY, SENDING):
                os.rename(p, self.folder / p.name)
                moved += 1
            else:
                p.unlink()  # a write that never finished
        _fsync_dir(self.folder)
        orphan.rmdir()
        if moved:
            log.warning("spool: adopted %d message(s) of %s, whose process is gone", moved, orphan)
        return moved

    # -- what operators see ----------------------------------------------------

    def oldest_age(self, paths: Sequence[Path] | None = None, now: float | None = None) -> float:
        paths = self.names() if paths is None else paths
        if not paths:
            return 0.0
        at = int(paths[0].stem.split("-", 1)[0]) / 1e9
        return max(0.0, (now or time.time()) - at)

    def status(self) -> dict[str, object]:
        paths = self.names()
        return {
            "dir": str(self.folder),
            "messages": self.count,
            "bytes": self.bytes,
            "oldest_age": round(self.oldest_age(paths), 1),
            "max_messages": self.settings.max_messages,
            "max_bytes": self.settings.max_bytes,
            "has_room": self.has_room(),
        }

    def _publish(self, paths: Sequence[Path] | None = None) -> None:
        MESSAGES.set(self.count)
        BYTES.set(self.bytes)
        if paths is not None:
            OLDEST.set(self.oldest_age(paths))


def listing(root: str | os.PathLike[str]) -> list[tuple[str, Path]]:
    """Every entry under ``root`` (all owners), oldest first: (owner, path). For the CLI."""
    base = Path(root)
    if not base.is_dir():
        return []
    found = [
        (folder.name, p)
        for folder in base.iterdir()
        if folder.is_dir()
        for p in folder.iterdir()
        if p.suffix in (READY, SENDING)
    ]
    return sorted(found, key=lambda item: item[1].stem)
