"""What the engine needs to know of a contact and a template, behind one protocol.

Contacts and templates live in their own store (``policy/scenarios/contacts.py``,
``policy/scenarios/templates.py``); the engine only asks who a recipient is
(status, zone, language, its template variables) and for a rendered step.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from policy.scenarios.definition import Filters


@dataclass(frozen=True)
class Recipient:
    email: str
    status: str = "active"  # active | do_not_contact
    timezone: str = ""
    language: str = ""
    category: str = ""
    values: Mapping[str, Any] = field(default_factory=dict)  # the template's variables


@dataclass(frozen=True)
class Content:
    subject: str
    html: str
    text: str


class RenderError(ValueError):
    """A template that cannot render for this contact: the operation fails with this reason."""


class Catalog(Protocol):
    async def recipient(self, tenant: str, email: str) -> Recipient | None: ...

    async def recipients(self, tenant: str, emails: Sequence[str]) -> dict[str, Recipient]: ...

    async def render(
        self, tenant: str, template: str, who: Recipient, extra: Mapping[str, Any]
    ) -> Content: ...  # raises RenderError

    async def matching(
        self, tenant: str, filters: Filters, after: str | None, limit: int
    ) -> Sequence[str]: ...  # emails in order, for enrolling by filter

    async def allows(self, tenant: str, who: Recipient, filters: Filters) -> str: ...

    # "" when the contact passes the scenario's filter, else the reason it does not
