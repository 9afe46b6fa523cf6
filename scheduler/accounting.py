"""Tail PowerMTA's accounting files: read each record once, across rotation and restarts.

Every ``poll_interval`` the folder is listed (``feedback.accounting_pattern``,
default ``acct*.csv``: PowerMTA writes ``acct.csv`` and moves it to
``acct-<date>.csv``), oldest first, and each file read from where it was
left. A file is known by its device and inode, so a rename (rotation) keeps
its place; its first bytes (up to 1 KiB, hashed) tell a new file that got a
reused inode from the old one, and a file shorter than its position was
truncated: both are read from the start.

The position is saved in the store after the records up to it had their
effects, so a restart resumes exactly there. Only complete records are read
(a quoted field may hold line breaks); a record PowerMTA is still writing
waits for the next round. If the process
dies between the effects and the save, the records since the last save are
read again and change nothing: suppressions, soft-bounce counts and
events are keyed by file, offset and the record's bytes.

Delivered (``d``) lines are most of a file and need nothing: they are
skipped by their first bytes, without CSV parsing.
"""

from __future__ import annotations

import asyncio
import fnmatch
import hashlib
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from policy.feedback import accounting, verp
from policy.feedback.decision import Feedback
from policy.store import Store
from scheduler import metrics
from scheduler.effects import Effects

log = logging.getLogger("sluice.accounting")
TASK = "accounting"  # its sluice_task_* label

CHUNK = 4 * 1024 * 1024
FINGERPRINT = 1024
MAX_HEADER = 64 * 1024
MAX_RECORD_LINES = 32  # lines one record's quoted fields may span
# A line starting like a record ends any record left open before it.
RECORD_STARTS = tuple(
    prefix for t in accounting.TYPES for prefix in (f"{t},".encode(), f'"{t}",'.encode())
)


@dataclass
class _Chunk:
    header: list[str]
    lines: list[tuple[int, bytes]]  # (offset, line) of every record that is not a delivery
    end: int  # the offset after the last complete line read
    fingerprint: str
    total: int  # complete lines read, deliveries included


class AccountingTailer:
    def __init__(
        self,
        store: Store,
        effects: Effects,
        folder: Callable[[], str | None],
        pattern: Callable[[], str],
        keys: Callable[[], verp.Verifier | None],
        tenant_of: Callable[[], accounting.TenantOf],
        *,
        clock: Callable[[], float] = time.time,
    ):
        self.store = store
        self.effects = effects
        self.folder = folder
        self.pattern = pattern
        self.keys = keys
        self.tenant_of = tenant_of
        self.clock = clock
        self.lines = 0  # complete lines read, every type
        self.records = 0  # records that carried feedback

    async def poll(self) -> int:
        """Read every matching file to its end; the number of lines read."""
        folder = self.folder()
        if not folder:
            return 0
        paths = await asyncio.to_thread(_listing, Path(folder), self.pattern())
        read = 0
        for path in paths:
            read += await self.follow(path)
        return read

    async def follow(self, path: Path) -> int:
        """Read one file from its saved position to its last complete line."""
        read = 0
        while True:
            try:
                st = await asyncio.to_thread(os.stat, path)
            except FileNotFoundError:
                return read
            key = f"{st.st_dev}:{st.st_ino}"
            start = await self._position(path, key, st.st_size)
            if st.st_size <= start:
                return read
            chunk = await asyncio.to_thread(_read_chunk, path, start)
            if chunk is None or chunk.end <= start:
                return read  # only a partial line so far
            items = self._feedback(key, chunk)
            if items:
                await self.effects.apply(items)
            await self.store.save_accounting_position(
                key, str(path), chunk.fingerprint, chunk.end, self.clock()
            )
            self.lines += chunk.total
            self.records += len(items)
            read += chunk.total

    async def _position(self, path: Path, key: str, size: int) -> int:
        saved = await self.store.accounting_position(key)
        if saved is None:
            return 0
        fingerprint, position = saved
        length = int(fingerprint.partition(":")[0] or 0)
        if size < position or await asyncio.to_thread(_fingerprint, path, length) != fingerprint:
            log.info("accounting %s is a new or truncated file: reading from the start", path)
            return 0
        return position

    def _feedback(self, key: str, chunk: _Chunk) -> list[Feedback]:
        keys, tenant_of, now = self.keys(), self.tenant_of(), self.clock()
        out = []
        for offset, line in chunk.lines:
            text = line.decode("utf-8", "replace")
            # The line's own bytes are in its key: a file truncated in place and
            # written again has other records at the same offsets.
            digest = hashlib.blake2b(line, digest_size=8).hexdigest()
            for record in accounting.rows([text], chunk.header):
                fb_key = f"acct:{key}:{offset}:{digest}"
                fb = accounting.to_feedback(record, fb_key, keys, tenant_of, now, _unmatched)
                if fb is not None:
                    out.append(fb)
        return out


def _listing(folder: Path, pattern: str) -> list[Path]:
    try:
        entries = [e for e in os.scandir(folder) if fnmatch.fnmatch(e.name, pattern)]
    except FileNotFoundError:
        return []
    # Oldest first: the rest of a rotated file is read before its successor.
    entries.sort(key=lambda e: (e.stat().st_mtime, e.name))
    return [Path(e.path) for e in entries if e.is_file()]


def _fingerprint(path: Path, length: int) -> str:
    with open(path, "rb") as f:
        head = f.read(length)
    return f"{len(head)}:{hashlib.sha256(head).hexdigest()[:32]}"


def _read_chunk(path: Path, start: int) -> _Chunk | None:
    with open(path, "rb") as f:
        first = f.readline(MAX_HEADER)
        f.seek(0)
        head = f.read(FINGERPRINT)
        f.seek(start)
        data = f.read(CHUNK)
    end = data.rfind(b"\n")
    if end < 0:
        return None
    data = data[: end + 1]
    header = first.decode("utf-8", "replace").strip().split(",")
    lines: list[tuple[int, bytes]] = []
    offset = start
    total = 0
    complete = start  # the offset after the last complete record
    parts: list[bytes] = []  # the lines of a record whose quoted field spans lines
    quotes = 0
    begin = start

    def take(records: list[bytes], here: int) -> None:
        nonlocal total
        for record in records:
            total += 1
            # A delivery needs nothing; the header line at offset 0 is the columns.
            if not (record.startswith((b"d,", b'"d",')) or here == 0):
                lines.append((here, record))
            here += len(record) + 1

    for line in data.split(b"\n")[:-1]:
        if parts and (line.startswith(RECORD_STARTS) or len(parts) >= MAX_RECORD_LINES):
            # The quote left open was garbage, not a field: each of its lines stands alone.
            take(parts, begin)
            parts, quotes, complete = [], 0, offset
        if not parts:
            begin = offset
        parts.append(line)
        quotes += line.count(b'"')
        offset += len(line) + 1
        if quotes % 2 == 0:
            take([b"\n".join(parts)], begin)
            parts, quotes, complete = [], 0, offset
        # else: inside a quoted field (RFC 4180), the LF belongs to it
    if complete == start:
        return None
    fingerprint = f"{len(head)}:{hashlib.sha256(head).hexdigest()[:32]}"
    return _Chunk(_columns(header), lines, complete, fingerprint, total)


def _columns(header: list[str]) -> list[str]:
    return [c.strip().strip('"') for c in header]


def _unmatched() -> None:
    metrics.count_unmatched("acct")
