"""Events the database could not take before the process stopped: kept on disk, written at start.

Events are off the custody path (``policy.events``), so a database that is
down only delays them, in memory. A shutdown cannot wait for it forever: the
final flush gets ``FINAL_FLUSH_TIMEOUT`` seconds, and what is still unwritten
then goes to a journal file (one per process, fsynced) under
``events_journal``. The next start of any process writes every journal file
it can claim (an atomic rename, so two processes starting together do not
write one file twice) and removes it once the store has it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from policy.events import Event, EventStore, Recorder

log = logging.getLogger("sluice.events")

FINAL_FLUSH_TIMEOUT = 5.0
SUFFIX = ".jsonl"


def save(folder: Path, events: list[Event]) -> Path:
    """Write ``events`` to a new journal file in ``folder``, durably; its path."""
    folder.mkdir(parents=True, exist_ok=True)
    name = f"events-{socket.gethostname()}-{os.getpid()}-{os.urandom(3).hex()}"
    tmp, final = folder / f".{name}.tmp", folder / f"{name}{SUFFIX}"
    try:
        with tmp.open("w", encoding="utf-8") as out:
            for event in events:
                out.write(json.dumps(dataclasses.asdict(event), ensure_ascii=False) + "\n")
            out.flush()
            os.fsync(out.fileno())
        tmp.rename(final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return final


def load(path: Path) -> list[Event]:
    events = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            fields = json.loads(line)
            fields["recipients"] = tuple(fields["recipients"])
            events.append(Event(**fields))
    return events


def _claim(folder: Path) -> list[tuple[Path, Path]]:
    """Rename each journal file to this process's claim; (its name, the claim) of each won."""
    if not folder.is_dir():
        return []
    won = []
    for path in sorted(folder.glob(f"*{SUFFIX}")):
        claimed = path.with_name(f".{path.name}.{os.getpid()}.replaying")
        try:
            path.rename(claimed)
        except FileNotFoundError:
            continue  # another process starting with us took it
        won.append((path, claimed))
    return won


async def replay(folder: Path, store: EventStore) -> int:
    """Write every journal file of ``folder`` to the store; the number of events written."""
    written = 0
    claims = _claim(folder)
    for i, (path, claimed) in enumerate(claims):
        try:
            events = load(claimed)
            await store.record(events)
        except BaseException:
            for original, claim in claims[i:]:
                claim.rename(original)  # the next start tries again
            raise
        claimed.unlink()
        written += len(events)
        log.info("wrote %d events kept at the last shutdown (%s)", len(events), path.name)
    return written


async def bounded_flush(name: str, flush: Awaitable[Any], left: Callable[[], int]) -> None:
    """A writer's last flush, given FINAL_FLUSH_TIMEOUT; what it could not write is counted."""
    try:
        async with asyncio.timeout(FINAL_FLUSH_TIMEOUT):
            await flush
    except Exception as exc:  # TimeoutError included
        log.error(
            "%d %s events could not be written and are lost (%s)",
            left(),
            name,
            exc.__class__.__name__,
        )


async def final_flush(recorder: Recorder, folder: Path | None) -> None:
    """The events writer's last round: to the store if it answers in time, else to the journal."""
    try:
        async with asyncio.timeout(FINAL_FLUSH_TIMEOUT):
            await recorder.flush()
        return
    except Exception as exc:  # TimeoutError included: the database is down or hung
        reason = f"{exc.__class__.__name__}: {exc}" if str(exc) else exc.__class__.__name__
    left = recorder.unwritten()
    if not left:
        return
    if folder is None:
        log.error("%d events could not be written and are lost (%s)", len(left), reason)
        return
    path = save(folder, left)
    log.warning(
        "%d events kept in %s: the database did not take them (%s); the next start writes them",
        len(left),
        path,
        reason,
    )
