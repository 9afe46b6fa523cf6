"""The contacts and templates tables on PostgreSQL: a mixin of PostgresStore."""

from __future__ import annotations

import json
import time
from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from policy.scenarios.contacts import Contact, ContactFilter
from policy.scenarios.templates import Template
from policy.store import contacts_sql as q

if TYPE_CHECKING:
    import asyncpg


class PgContacts:
    if TYPE_CHECKING:

        def _pool(self) -> asyncpg.Pool: ...

    async def upsert_contacts(
        self,
        tenant: str,
        contacts: Sequence[Contact],
        given: Sequence[Collection[str]] | None = None,
    ) -> list[str]:
        emails = [c.email for c in contacts]
        async with self._pool().acquire() as conn, conn.transaction():
            rows = await conn.fetch(q.EXISTING_PG, tenant, emails)
            old = {r[1]: q.contact(r) for r in rows}
            answers, written = q.upserted(old, contacts, given, time.time())
            await conn.executemany(q.UPSERT_CONTACT, written)
        return answers

    async def contact(self, tenant: str, email: str) -> Contact | None:
        row = await self._pool().fetchrow(q.CONTACT, tenant, email)
        return q.contact(row) if row is not None else None

    async def contacts_page(
        self, tenant: str, f: ContactFilter, after: str | None, limit: int
    ) -> list[Contact]:
        statement, args = q.page(tenant, f, after, limit)
        return [q.contact(r) for r in await self._pool().fetch(statement, *args)]

    async def delete_contact(self, tenant: str, email: str) -> bool:
        done = await self._pool().execute(q.DELETE_CONTACT, tenant, email)
        return bool(done.endswith(" 1"))

    async def set_contact_status(self, tenant: str, email: str, status: str) -> bool:
        done = await self._pool().execute(q.SET_STATUS, tenant, email, status, time.time())
        return bool(done.endswith(" 1"))

    async def update_custom(self, tenant: str, email: str, values: Mapping[str, Any]) -> bool:
        async with self._pool().acquire() as conn, conn.transaction():
            row = await conn.fetchrow(q.CUSTOM_OF + " FOR UPDATE", tenant, email)
            if row is None:
                return False
            custom = {**json.loads(row[1]), **dict(values)}
            await conn.execute(q.SET_CUSTOM, tenant, email, json.dumps(custom), time.time())
            return True

    async def save_template(self, t: Template) -> None:
        await self._pool().execute(q.SAVE_TEMPLATE, *q.template_row(t))

    async def template_variants(self, tenant: str, name: str) -> list[Template]:
        return [q.template(r) for r in await self._pool().fetch(q.TEMPLATE_VARIANTS, tenant, name)]

    async def templates(self, tenant: str) -> list[Template]:
        return [q.template(r) for r in await self._pool().fetch(q.TEMPLATES, tenant)]

    async def delete_template(
        self, tenant: str, name: str, language: str = "", category: str = ""
    ) -> bool:
        done = await self._pool().execute(q.DELETE_TEMPLATE, tenant, name, language, category)
        return bool(done.endswith(" 1"))
