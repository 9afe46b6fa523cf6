"""The store's protocols for a tenant's contacts and templates (``policy.scenarios``)."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any, Protocol

from policy.scenarios.contacts import Contact, ContactFilter
from policy.scenarios.templates import Template


class ContactStore(Protocol):
    # "created" or "updated" per item, in one transaction; custom fields are merged
    # and a do_not_contact status is kept.
    # ``given``: per contact, the fields it names (the others of an existing row stay);
    # None: every field.
    async def upsert_contacts(
        self,
        tenant: str,
        contacts: Sequence[Contact],
        given: Sequence[Collection[str]] | None = None,
    ) -> list[str]: ...
    async def contact(self, tenant: str, email: str) -> Contact | None: ...
    # Ordered by email; the cursor is the last email of the page before.
    async def contacts_page(
        self, tenant: str, f: ContactFilter, after: str | None, limit: int
    ) -> list[Contact]: ...
    async def delete_contact(self, tenant: str, email: str) -> bool: ...
    async def set_contact_status(self, tenant: str, email: str, status: str) -> bool: ...
    async def update_custom(self, tenant: str, email: str, values: Mapping[str, Any]) -> bool: ...


class TemplateStore(Protocol):
    async def save_template(self, t: Template) -> None: ...
    # Every language and category of one name.
    async def template_variants(self, tenant: str, name: str) -> list[Template]: ...
    async def templates(self, tenant: str) -> list[Template]: ...
    async def delete_template(
        self, tenant: str, name: str, language: str = "", category: str = ""
    ) -> bool: ...
