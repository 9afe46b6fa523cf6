"""The dry-run downstream: each message and its envelope fsynced to a folder before 250.

Also the check that a state folder (outbox, spool) can still take a write,
which readiness asks of both.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from gateway import replies
from gateway.downstream import Result

log = logging.getLogger("sluice.downstream")


class OutboxSink:
    """Dry run: each message and its envelope written to a folder, fsynced before 250."""

    def __init__(self, folder: str | os.PathLike[str]):
        self.folder = Path(folder)

    async def send(
        self,
        mail_from: str,
        recipients: Sequence[str],
        data: bytes,
        *,
        smtputf8: bool = False,
        alive: Callable[[], bool] | None = None,
    ) -> Result:
        envelope = {"mail_from": mail_from, "recipients": list(recipients), "at": time.time()}
        try:
            name = await asyncio.to_thread(self._write, data, envelope)
        except OSError as exc:
            log.error("outbox write failed: %s", exc)
            return Result(replies.OUTBOX_FAILED, "deferred", str(exc))
        return Result(replies.SINK_OK, "relayed", f"outbox {name}")

    def _write(self, data: bytes, envelope: dict) -> str:
        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"{time.time_ns()}-{secrets.token_hex(4)}"
        pair = (self.folder / f"{name}.eml", self.folder / f"{name}.json")
        try:
            # The message first, then its envelope: a reader treats the .json as the
            # mark that the pair is complete.
            _write_durably(pair[0], data)
            _write_durably(pair[1], json.dumps(envelope).encode())
            dir_fd = os.open(self.folder, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except OSError:
            # The sender hears a 4xx and sends again: no half of this copy may stay.
            for path in pair:
                path.unlink(missing_ok=True)
            raise
        return name

    async def probe(self) -> None:
        return None  # no breaker: a folder is not probed

    async def ping(self) -> None:
        await asyncio.to_thread(check_room, self.folder)

    async def close(self) -> None:
        return None


def _write_durably(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # on a full disk, a partial file only makes it fuller
        raise


# Room for a message of the default smtp.max_message_size (25 MB) and its copy
# on the way, as Postfix keeps 1.5 x message_size_limit free before it accepts.
MIN_FREE = 64 * 1024 * 1024


def check_room(folder: Path, min_free: int = MIN_FREE) -> None:
    """Raise unless ``folder`` takes files: writable, not read-only, ``min_free`` bytes free."""
    folder.mkdir(parents=True, exist_ok=True)
    stat = os.statvfs(folder)
    if stat.f_flag & os.ST_RDONLY or not os.access(folder, os.W_OK):
        raise PermissionError(f"{folder} is read-only")
    free = stat.f_bavail * stat.f_frsize
    if free < min_free:
        raise OSError(f"{folder} is full: {free // 1024} KB free, {min_free // 1024} KB needed")
