"""The catalog over the store's contacts and templates (``policy/scenarios/contacts.py``,
``policy/scenarios/templates.py``, the ContactStore and TemplateStore protocols).

Those modules come with the contacts part of issue 15; until they are in the
tree, ``build`` answers None and the daemon runs no engine (it says so in
its log) rather than an engine that would fail every send. The modules are
found by name for that reason only.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Mapping, Sequence
from types import ModuleType
from typing import Any

from policy.scenarios.definition import Filters
from scheduler.scenarios.catalog import Catalog, Content, Recipient, RenderError

log = logging.getLogger("sluice.scenarios")


def build(store: Any) -> Catalog | None:
    try:
        contacts = importlib.import_module("policy.scenarios.contacts")
        templates = importlib.import_module("policy.scenarios.templates")
    except ImportError:
        log.warning("scenario engine off: contacts and templates are not part of this build")
        return None
    return StoreCatalog(store, contacts, templates)


class StoreCatalog:
    def __init__(self, store: Any, contacts: ModuleType, templates: ModuleType):
        self.store, self.contacts, self.templates = store, contacts, templates

    def _filter(self, f: Filters) -> Any:
        return self.contacts.ContactFilter(**f.model_dump())

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
        chosen = self.templates.choose(variants, who.language, who.category, "")
        if chosen is None:
            raise RenderError(f"no template {template!r} for this contact's language")
        values = self.templates.contact_values(who.values["contact"], extra)
        try:
            r = self.templates.render(chosen, values)
        except self.templates.TemplateError as exc:
            raise RenderError(str(exc)) from exc
        return Content(r.subject, r.html, r.text)

    async def matching(
        self, tenant: str, filters: Filters, after: str | None, limit: int
    ) -> Sequence[str]:
        page = await self.store.contacts_page(tenant, self._filter(filters), after, limit)
        return [c.email for c in page]

    async def allows(self, tenant: str, who: Recipient, filters: Filters) -> str:
        if self.contacts.matches(who.values["contact"], self._filter(filters)):
            return ""
        return "does not match the scenario's filters"
