"""The contacts and templates tables on SQLite: a mixin of SqliteStore."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from policy.scenarios.contacts import Contact, ContactFilter
from policy.scenarios.templates import Template
from policy.store import contacts_sql as q
from policy.store.scenarios_sqlite import marks

if TYPE_CHECKING:
    import aiosqlite

CHUNK = 500  # addresses per IN (...) lookup: well under SQLite's variable limit


class SqliteContacts:
    if TYPE_CHECKING:

        def _write(self) -> contextlib.AbstractAsyncContextManager[aiosqlite.Connection]: ...

        async def _rows(self, sql: str, *args: object) -> list[tuple[Any, ...]]: ...

    async def upsert_contacts(
        self,
        tenant: str,
        contacts: Sequence[Contact],
        given: Sequence[Collection[str]] | None = None,
    ) -> list[str]:
        emails = list(dict.fromkeys(c.email for c in contacts))
        async with self._write() as db:
            old: dict[str, Contact] = {}
            for i in range(0, len(emails), CHUNK):
                chunk = emails[i : i + CHUNK]
                statement = marks(q.existing_sqlite(len(chunk)))
                async with db.execute(statement, (tenant, *chunk)) as cur:
                    old.update({r[1]: q.contact(r) for r in await cur.fetchall()})
            answers, written = q.upserted(old, contacts, given, time.time())
            await db.executemany(marks(q.UPSERT_CONTACT), written)
        return answers

    async def contact(self, tenant: str, email: str) -> Contact | None:
        rows = await self._rows(marks(q.CONTACT), tenant, email)
        return q.contact(rows[0]) if rows else None

    async def contacts_page(
        self, tenant: str, f: ContactFilter, after: str | None, limit: int
    ) -> list[Contact]:
        statement, args = q.page(tenant, f, after, limit)
        return [q.contact(r) for r in await self._rows(marks(statement), *args)]

    async def _changed(self, statement: str, *args: Any) -> bool:
        async with self._write() as db:
            cur = await db.execute(marks(statement), args)
            return cur.rowcount == 1

    async def delete_contact(self, tenant: str, email: str) -> bool:
        return await self._changed(q.DELETE_CONTACT, tenant, email)

    async def set_contact_status(self, tenant: str, email: str, status: str) -> bool:
        return await self._changed(q.SET_STATUS, tenant, email, status, time.time())

    async def update_custom(self, tenant: str, email: str, values: Mapping[str, Any]) -> bool:
        async with self._write() as db:
            async with db.execute(marks(q.CUSTOM_OF), (tenant, email)) as cur:
                row = await cur.fetchone()
            if row is None:
                return False
            custom = {**json.loads(row[1]), **dict(values)}
            await db.execute(marks(q.SET_CUSTOM), (tenant, email, json.dumps(custom), time.time()))
            return True

    async def save_template(self, t: Template) -> None:
        async with self._write() as db:
            await db.execute(marks(q.SAVE_TEMPLATE), q.template_row(t))

    async def template_variants(self, tenant: str, name: str) -> list[Template]:
        return [q.template(r) for r in await self._rows(marks(q.TEMPLATE_VARIANTS), tenant, name)]

    async def templates(self, tenant: str) -> list[Template]:
        return [q.template(r) for r in await self._rows(marks(q.TEMPLATES), tenant)]

    async def delete_template(
        self, tenant: str, name: str, language: str = "", category: str = ""
    ) -> bool:
        return await self._changed(q.DELETE_TEMPLATE, tenant, name, language, category)
