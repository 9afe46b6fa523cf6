"""Contacts as CSV: the import (every bad cell named by row and column) and the export.

The header names the columns (``email`` required, the others of
``contacts.FIELDS`` optional, in any order); ``custom`` is a JSON object and
``tags`` are separated by ``;``. What the export writes the import reads
back unchanged. Rows are numbered as a spreadsheet shows them: the header is
row 1.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from policy.scenarios.contacts import FIELDS, Contact, given, parse

COLUMNS = FIELDS


@dataclass(frozen=True)
class Problem:
    row: int
    column: str
    message: str

    def __str__(self) -> str:
        return f"row {self.row}, column {self.column}: {self.message}"


def read(
    text: str, tenant: str, progress: Callable[[int], None] | None = None
) -> tuple[list[tuple[Contact, frozenset[str]]], list[Problem]]:
    """Every contact of the file with the fields its row gives, or every problem of it
    (then no contact counts)."""
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [(name or "").strip().lower() for name in reader.fieldnames or []]
    problems = [Problem(1, name, "unknown column") for name in header if name not in COLUMNS]
    if "email" not in header:
        problems.append(Problem(1, "email", "the header must name an email column"))
    if problems:
        return [], problems
    reader.fieldnames = header
    contacts: list[tuple[Contact, frozenset[str]]] = []
    seen: dict[str, int] = {}
    for done, row in enumerate(reader, 1):
        number = reader.line_num
        if progress is not None and done % 1000 == 0:
            progress(done)
        if None in row:
            problems.append(Problem(number, "-", "more cells than the header names"))
            continue
        item = {k: v for k, v in row.items() if v not in (None, "")}
        if not item:
            continue  # a blank line
        contact, errors = parse(tenant, item)
        problems += [Problem(number, column, why) for column, why in errors.items()]
        if contact is None:
            continue
        if contact.email in seen:
            message = f"{contact.email} is already on row {seen[contact.email]}"
            problems.append(Problem(number, "email", message))
            continue
        seen[contact.email] = number
        contacts.append((contact, given(item)))
    return ([] if problems else contacts), problems


def rows(contacts: Iterable[Contact], header: bool = True) -> Iterator[str]:
    """CSV text, a line per contact (the header first when asked)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    if header:
        writer.writerow(COLUMNS)
    for c in contacts:
        writer.writerow(
            [
                c.email, c.first_name, c.last_name, c.language, c.country, c.category,
                "" if c.tier is None else c.tier, "" if c.score is None else c.score,
                "" if c.validation_score is None else c.validation_score,
                "" if c.deliverable is None else str(c.deliverable).lower(), c.timezone,
                json.dumps(dict(c.custom), ensure_ascii=False) if c.custom else "",
                ";".join(c.tags), c.status, c.source,
            ]
        )  # fmt: skip
        yield out.getvalue()
        out.seek(0)
        out.truncate()
    if header and out.getvalue():
        yield out.getvalue()
