"""Scenario engine helpers: an in-memory catalog of contacts and templates, a driven clock."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from policy.scenarios.definition import Filters, parse
from scheduler.scenarios.catalog import Content, Recipient, RenderError
from scheduler.scenarios.definitions import to_json


@dataclass
class Clock:
    now: float

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class MemoryCatalog:
    """Contacts by (tenant, email); templates by name, formatted with str.format."""

    contacts: dict[tuple[str, str], Recipient] = field(default_factory=dict)
    templates: dict[str, tuple[str, str, str]] = field(default_factory=dict)

    def add(self, tenant: str, *emails: str, **kw: Any) -> None:
        for e in emails:
            values = {"email": e, "first_name": e.split("@")[0].title()}
            self.contacts[(tenant, e)] = Recipient(e, values=values, **kw)

    async def recipient(self, tenant: str, email: str) -> Recipient | None:
        return self.contacts.get((tenant, email))

    async def recipients(self, tenant: str, emails: Sequence[str]) -> dict[str, Recipient]:
        return {e: r for e in emails if (r := self.contacts.get((tenant, e))) is not None}

    async def render(
        self, tenant: str, template: str, who: Recipient, extra: Mapping[str, Any]
    ) -> Content:
        if template not in self.templates:
            raise RenderError(f"no template {template!r}")
        subject, text, html = self.templates[template]
        values = {**who.values, **extra}
        try:
            return Content(subject.format(**values), text.format(**values), html.format(**values))
        except KeyError as exc:
            raise RenderError(f"variable {exc.args[0]} is empty") from exc

    async def matching(
        self, tenant: str, filters: Filters, after: str | None, limit: int
    ) -> Sequence[str]:
        emails = sorted(e for t, e in self.contacts if t == tenant and (after is None or e > after))
        return emails[:limit]

    async def allows(self, tenant: str, who: Recipient, filters: Filters) -> str:
        if any(who.email.endswith("@" + d) for d in filters.excluded_domains):
            return "excluded domain"
        return ""


def template(name: str) -> tuple[str, str, str]:
    return (
        f"{name} for {{first_name}}",
        f"Hello {{first_name}}, this is {name}.\nUnsubscribe: {{unsubscribe_url}}\n",
        f"<p>Hello {{first_name}}, this is <a href='https://acme.example/{name}'>{name}</a>.</p>",
    )


async def save(store: Any, body: dict[str, Any], now: float = 0.0) -> int:
    s = parse(body)
    return int(
        await store.save_scenario("acme", s.name, to_json(s), s.start_at, s.queue_behind, now)
    )


def dumps(body: dict[str, Any]) -> str:
    return json.dumps(body)
