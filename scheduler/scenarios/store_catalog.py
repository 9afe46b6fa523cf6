"""The catalog over the store's contacts and templates (``policy/scenarios/contacts.py``,
``policy/scenarios/templates.py``, the ContactStore and TemplateStore protocols).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from policy.scenarios import templates
from policy.scenarios.contacts import Contact, ContactFilter, matches
from policy.scenarios.definition import Filters
from policy.scenarios.templates import Template
from policy.store import Store
from scheduler.scenarios.catalog import Catalog, Content, Recipient, RenderError
from scheduler.scenarios.shared_reads import SharedReads


def build(store: Store) -> Catalog:
    return StoreCatalog(store)


def _recipient(c: Contact) -> Recipient:
    return Recipient(c.email, c.status, c.timezone, c.language, c.category, values={"contact": c})


# Seconds a template's variants are kept between sends: a batch renders one template
# hundreds of times, and an edit is in use within this long.
TEMPLATE_TTL = 2.0


class StoreCatalog:
    def __init__(self, store: Store, clock: Callable[[], float] = time.monotonic):
        self.store = store
        self._variants: SharedReads[tuple[str, str], list[Template]] = SharedReads(
            self._read_variants, TEMPLATE_TTL, clock
        )

    async def _variants_of(self, tenant: str, name: str) -> list[Template]:
        return await self._variants.get((tenant, name))

    async def _read_variants(self, key: tuple[str, str]) -> list[Template]:
        return await self.store.template_variants(*key)

    def _filter(self, f: Filters) -> ContactFilter:
        return ContactFilter(**f.model_dump())

    async def recipient(self, tenant: str, email: str) -> Recipient | None:
        c = await self.store.contact(tenant, email)
        return _recipient(c) if c is not None else None

    async def recipients(self, tenant: str, emails: Sequence[str]) -> dict[str, Recipient]:
        found = await self.store.contacts_of(tenant, emails)
        return {email: _recipient(c) for email, c in found.items()}

    async def render(
        self, tenant: str, template: str, who: Recipient, extra: Mapping[str, Any]
    ) -> Content:
        variants = await self._variants_of(tenant, template)
        chosen = templates.choose(variants, who.language, who.category, "")
        if chosen is None:
            raise RenderError(f"no template {template!r} for this contact's language")
        values = templates.contact_values(who.values["contact"], extra, template)
        try:
            r = templates.render(chosen, values)
        except templates.TemplateError as exc:
            raise RenderError(str(exc)) from exc
        return Content(r.subject, r.html, r.text)

    async def matching(
        self, tenant: str, filters: Filters, after: str | None, limit: int
    ) -> Sequence[str]:
        page = await self.store.contacts_page(tenant, self._filter(filters), after, limit)
        return [c.email for c in page]

    async def allows(self, tenant: str, who: Recipient, filters: Filters) -> str:
        if matches(who.values["contact"], self._filter(filters)):
            return ""
        return "does not match the scenario's filters"
