"""Opens, clicks and unsubscribes: the statements both stores run, and first-open marking.

A batch is written in one transaction: the opens' keys go into
``first_opens`` first, and the keys that were new come back (RETURNING),
so the store, shared by every host, is the one judge of which open was the
first; then every event goes into ``engagement`` with that flag.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from policy.engagement import COLUMNS, Engagement

FIRST_COLUMNS = "tenant, message_id, recipient, classification, at"
# SQLite: one multi-row VALUES per chunk (5 parameters a row, under the old 999 limit).
SQLITE_CHUNK = 150
SQLITE_FIRST = (
    f"INSERT INTO first_opens ({FIRST_COLUMNS}) VALUES {{values}}"
    " ON CONFLICT DO NOTHING RETURNING tenant, message_id, recipient, classification"
)
PG_FIRST = (
    f"INSERT INTO first_opens ({FIRST_COLUMNS})"
    " SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::float8[])"
    " ON CONFLICT DO NOTHING RETURNING tenant, message_id, recipient, classification"
)
INSERT = f"INSERT INTO engagement ({','.join(COLUMNS)}) VALUES ({','.join('?' * len(COLUMNS))})"
RECENT = f"SELECT {','.join(COLUMNS)} FROM engagement ORDER BY id DESC LIMIT $1"
RECENT_TENANT = (
    f"SELECT {','.join(COLUMNS)} FROM engagement WHERE tenant = $1 ORDER BY id DESC LIMIT $2"
)

Key = tuple[str, str, str, str]


def open_keys(events: Sequence[Engagement]) -> list[tuple[str, str, str, str, float]]:
    """The first_opens rows a batch may add: one per key, at its earliest open."""
    seen: dict[Key, float] = {}
    for e in events:
        if e.kind == "open":
            key = (e.tenant, e.message_id, e.recipient, e.classification)
            seen.setdefault(key, e.at)
    return [(*key, at) for key, at in seen.items()]


def rows(
    events: Sequence[Engagement], new_keys: set[Key]
) -> tuple[list[tuple[Any, ...]], list[bool]]:
    """The engagement rows with their first_open flags, and the flags alone, in order."""
    out, flags = [], []
    for e in events:
        key = (e.tenant, e.message_id, e.recipient, e.classification)
        first = e.kind == "open" and key in new_keys
        if first:
            new_keys.discard(key)  # the earliest open of the key in this batch, only
        out.append((*e.as_row()[:-1], first))
        flags.append(first)
    return out, flags


def as_dict(row: Sequence[Any]) -> dict[str, Any]:
    return dict(zip(COLUMNS, row, strict=True))
