"""Statements of the contacts and templates tables, in PostgreSQL's $1 marks.

Tags are stored comma-joined between commas (``,vip,fr,``) so that "has this
tag" is one LIKE on both backends. A contact's ``do_not_contact`` status
survives an import: only ``set_contact_status`` clears it, never an upsert.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import replace
from typing import Any

from policy.scenarios.contacts import FIELDS, Contact, ContactFilter
from policy.scenarios.templates import Template

CONTACT_COLUMNS = (
    "tenant, email, first_name, last_name, language, country, category, tier, score,"
    " validation_score, deliverable, timezone, custom, tags, status, source, created, updated"
)
_UPDATED = (
    "first_name", "last_name", "language", "country", "category", "tier", "score",
    "validation_score", "deliverable", "timezone", "custom", "tags", "source", "updated",
)  # fmt: skip
UPSERT_CONTACT = f"""INSERT INTO contacts ({CONTACT_COLUMNS}) VALUES
    ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
    ON CONFLICT (tenant, email) DO UPDATE SET
    {", ".join(f"{c} = excluded.{c}" for c in _UPDATED)},
    status = CASE WHEN contacts.status = 'do_not_contact' THEN contacts.status
                  ELSE excluded.status END"""
CONTACT = f"SELECT {CONTACT_COLUMNS} FROM contacts WHERE tenant = $1 AND email = $2"
CUSTOM_OF = "SELECT email, custom FROM contacts WHERE tenant = $1 AND email = $2"
# One key lookup per address (LATERAL), whatever the statistics say: fresh from an
# import, they had PostgreSQL read all of a tenant's contacts to find a batch's.
EXISTING_PG = f"""SELECT c.* FROM unnest($2::text[]) AS x(email) CROSS JOIN LATERAL (
    SELECT {CONTACT_COLUMNS} FROM contacts WHERE tenant = $1 AND email = x.email) AS c"""
SET_CUSTOM = "UPDATE contacts SET custom = $3, updated = $4 WHERE tenant = $1 AND email = $2"
DELETE_CONTACT = "DELETE FROM contacts WHERE tenant = $1 AND email = $2"
SET_STATUS = "UPDATE contacts SET status = $3, updated = $4 WHERE tenant = $1 AND email = $2"

TEMPLATE_COLUMNS = "tenant, name, language, category, subject, html, text, updated"
SAVE_TEMPLATE = f"""INSERT INTO templates ({TEMPLATE_COLUMNS})
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
    ON CONFLICT (tenant, name, language, category) DO UPDATE SET subject = excluded.subject,
    html = excluded.html, text = excluded.text, updated = excluded.updated"""
TEMPLATE_VARIANTS = f"""SELECT {TEMPLATE_COLUMNS} FROM templates
    WHERE tenant = $1 AND name = $2 ORDER BY language, category"""
TEMPLATES = f"""SELECT {TEMPLATE_COLUMNS} FROM templates
    WHERE tenant = $1 ORDER BY name, language, category"""
DELETE_TEMPLATE = """DELETE FROM templates
    WHERE tenant = $1 AND name = $2 AND language = $3 AND category = $4"""


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def page(tenant: str, f: ContactFilter, after: str | None, limit: int) -> tuple[str, list[Any]]:
    """The statement and arguments of one page of contacts matching ``f`` (by email)."""
    args: list[Any] = [tenant]
    where = ["tenant = $1"]

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    if f.status is not None:
        where.append(f"status = {arg(f.status)}")
    for tag in f.tags:
        where.append(f"tags LIKE {arg('%,' + _like(tag) + ',%')} ESCAPE '\\'")
    for column, values in (
        ("language", f.languages),
        ("country", f.countries),
        ("category", f.categories),
    ):
        if values:
            where.append(f"{column} IN ({', '.join(arg(v) for v in values)})")
    if f.min_score is not None:
        where.append(f"score >= {arg(f.min_score)}")
    if f.min_validation_score is not None:
        where.append(f"validation_score >= {arg(f.min_validation_score)}")
    if f.deliverable_only:
        where.append(f"deliverable = {arg(True)}")
    for domain in f.excluded_domains:
        where.append(f"email NOT LIKE {arg('%@' + _like(domain))} ESCAPE '\\'")
    if after is not None:
        where.append(f"email > {arg(after)}")
    statement = (
        f"SELECT {CONTACT_COLUMNS} FROM contacts WHERE {' AND '.join(where)}"
        f" ORDER BY email LIMIT {arg(limit)}"
    )
    return statement, args


def contact_row(c: Contact) -> tuple[Any, ...]:
    tags = "," + ",".join(c.tags) + "," if c.tags else ""
    return (
        c.tenant, c.email, c.first_name, c.last_name, c.language, c.country, c.category,
        c.tier, c.score, c.validation_score, c.deliverable, c.timezone,
        json.dumps(dict(c.custom), ensure_ascii=False, sort_keys=True), tags, c.status,
        c.source, c.created, c.updated,
    )  # fmt: skip


def contact(row: Sequence[Any]) -> Contact:
    (tenant, email, first, last, language, country, category, tier, score, validation,
     deliverable, timezone, custom, tags, status, source, created, updated) = row  # fmt: skip
    return Contact(
        tenant, email, first, last, language, country, category, tier, score, validation,
        None if deliverable is None else bool(deliverable), timezone, json.loads(custom),
        tuple(filter(None, tags.split(","))), status, source, created, updated,
    )  # fmt: skip


def template_row(t: Template) -> tuple[Any, ...]:
    return (t.tenant, t.name, t.language, t.category, t.subject, t.html, t.text, t.updated)


def template(row: Sequence[Any]) -> Template:
    tenant, name, language, category, subject, html, text, updated = row
    return Template(tenant, name, subject, html, text, language, category, updated)


def merged(old: Contact | None, c: Contact, given: Collection[str] | None, now: float) -> Contact:
    """``c`` as written over the row it updates: only the fields it was given replace the
    row's (all of them when ``given`` is None), custom fields merge, ``created`` stays."""
    if old is None:
        return replace(c, created=now, updated=now)
    fields = {f: getattr(c, f) for f in (given if given is not None else FIELDS) if f != "email"}
    if "custom" in fields:
        fields["custom"] = {**dict(old.custom), **dict(c.custom)}
    return replace(old, **fields, created=old.created, updated=now)


def existing_sqlite(count: int) -> str:
    marks = ", ".join(f"${i + 2}" for i in range(count))
    return f"SELECT {CONTACT_COLUMNS} FROM contacts WHERE tenant = $1 AND email IN ({marks})"


def upserted(
    old: dict[str, Contact],
    contacts: Sequence[Contact],
    given: Sequence[Collection[str]] | None,
    now: float,
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Each contact's answer (created or updated) and the rows to write, in order."""
    answers, rows = [], []
    for i, c in enumerate(contacts):
        before = old.get(c.email)
        answers.append("updated" if before is not None else "created")
        written = merged(before, c, given[i] if given is not None else None, now)
        old[c.email] = written
        rows.append(contact_row(written))
    return answers, rows
