"""The durable inbox: inbound mail on disk from the 250 until it is processed.

One file per accepted message, Maildir-style: written and fsynced in
``tmp/``, renamed into ``new/`` and the directory fsynced, and only then
does the listener answer 250, so a crash or a power cut loses nothing that
was acknowledged. The processor moves each file on: ``done/``,
``undetermined/`` (not understood: kept for a person to read) or
``failed/`` (processing kept failing); all three are pruned after
``feedback.inbox_keep_days``.
A file is its envelope as one JSON line, then the message exactly as received.

The calls are blocking file I/O: async callers run them in a thread.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from pathlib import Path
from typing import Any

FOLDERS = ("tmp", "new", "done", "undetermined", "failed")
PRUNED = ("done", "undetermined", "failed")


class Inbox:
    def __init__(self, folder: str | os.PathLike[str]):
        self.folder = Path(folder)

    def ensure(self) -> None:
        for name in FOLDERS:
            (self.folder / name).mkdir(parents=True, exist_ok=True)

    def write(self, envelope: dict[str, Any], data: bytes) -> Path:
        """Store one message durably; the path in ``new/``."""
        name = f"{time.time_ns()}-{secrets.token_hex(4)}.eml"
        tmp = self.folder / "tmp" / name
        head = json.dumps(envelope, separators=(",", ":"), ensure_ascii=True).encode() + b"\n"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, head)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        final = self.folder / "new" / name
        os.rename(tmp, final)
        _fsync_dir(final.parent)
        return final

    def pending(self, limit: int = 100) -> list[Path]:
        """The oldest messages waiting in ``new/``."""
        try:
            names = sorted(os.listdir(self.folder / "new"))
        except FileNotFoundError:
            return []
        return [self.folder / "new" / n for n in names[:limit] if n.endswith(".eml")]

    @staticmethod
    def read(path: Path) -> tuple[dict[str, Any], bytes]:
        """The envelope and the raw message; a damaged envelope line reads as ``{}``."""
        blob = path.read_bytes()
        head, sep, raw = blob.partition(b"\n")
        try:
            envelope = json.loads(head) if sep else None
        except ValueError:
            envelope = None
        if not isinstance(envelope, dict):
            return {}, blob
        return envelope, raw

    def move(self, path: Path, where: str) -> Path:
        """Take a message out of ``new/`` into ``where`` (done, undetermined, failed)."""
        if where not in FOLDERS[2:]:
            raise ValueError(f"unknown inbox folder {where!r}")
        target = self.folder / where / path.name
        os.replace(path, target)
        _fsync_dir(target.parent)
        return target

    def prune(self, older_than: float) -> int:
        """Delete processed messages last changed before ``older_than``.

        ``undetermined/`` and ``failed/`` too: kept for a person to look at, but
        anyone can mail the listener, so an unbounded folder fills the disk.
        """
        removed = 0
        for name in PRUNED:
            folder = self.folder / name
            for entry in os.scandir(folder) if folder.is_dir() else ():
                try:
                    if entry.stat().st_mtime < older_than:
                        os.unlink(entry.path)
                        removed += 1
                except FileNotFoundError:
                    continue
        return removed


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
