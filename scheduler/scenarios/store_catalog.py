"""The catalog over the store's contacts and templates (``policy/scenarios/contacts.py``,
``policy/scenarios/templates.py``, the ContactStore and TemplateStore protocols).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from policy.scenarios import templates
from policy.scenarios.contacts import ContactFilter, matches
from policy.scenarios.definition import Filters
from policy.store import Store
from scheduler.scenarios.catalog import Catalog, Content, Recipient, RenderError


def build(store: Store) -> Catalog:
    return StoreCatalog(store)


class StoreCatalog:
    def __init__(self, store: Store):
        self.store = store

    def _filter(self, f: Filters) -> ContactFilter:
        return ContactFilter(**f.model_dump())

    async def recipient(self, tenant: str, email: str) -> Recipient | None:
        c = await self.store.contact(tenant, email)
        if c is None:
            return None
        return Recipient(
            c.email, c.status, c.timezone, c.language, c.category, values={"contact": c}
        )

    async def render(
        self, tenant: str, template: str, who: Recipient, extra: Mapping[str, Any]
    ) -> Content:
        variants = await self.store.template_variants(tenant, template)
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
