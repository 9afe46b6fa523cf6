"""AI-written first lines: one per contact and template, written at enrollment, never on send.

The enrollment code calls ``Personalizer.write_first_lines`` (or
``first_lines`` to get them without storing). For each contact, in order:

1. the prompt and its cache key (``policy.personalization.prompt``);
2. a line already written for the same inputs comes from the cache (``cache``);
3. with no API key configured, the template's fallback line (``fallback``);
4. requests that do not fit in the tenant's daily token budget fall back;
5. the others are asked: through one Message Batch from ``batch_threshold``
   requests, else one ``messages.create`` each, at most ``max_concurrency``
   at once (``scheduler/personalization_batch.py``);
6. each answer is checked (``policy.personalization.checks``): a line that
   passes is ``ai`` and cached; one that fails, or a call that failed, falls
   back with the reason. The tokens of every answer count in the budget.

A stored line goes into the contact's custom fields under
``first_line:<template>`` (the template's ``first_line`` variable), and a
``first_line`` contact event records where it came from and why.

The API key is handed to the SDK only; nothing here logs it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import anthropic

from conf.schema.ai import AiSettings
from policy.personalization import budget, checks, prompt
from policy.personalization.lines import BUDGET, CHECK, NO_KEY, FirstLine, Source
from policy.personalization.prompt import Brief, Prompt
from policy.scenarios.contacts import Contact
from policy.scenarios.templates import first_line_key
from policy.store.contact_store import ContactStore
from policy.store.personalization_store import PersonalizationStore
from scheduler import personalization_batch as calls
from scheduler.personalization_batch import Answer, Sleep

log = logging.getLogger("sluice.personalization")

EVENT = "first_line"  # the contact event's kind


class LineStore(PersonalizationStore, ContactStore, Protocol):
    async def add_contact_event(
        self, tenant: str, email: str, kind: str, detail: str, at: float
    ) -> None: ...


@dataclass(frozen=True)
class _Outcome:
    text: str
    source: Source
    reason: str = ""
    tokens: int = 0


class Personalizer:
    def __init__(
        self,
        settings: AiSettings,
        store: LineStore,
        *,
        client: anthropic.AsyncAnthropic | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Sleep = asyncio.sleep,
    ):
        self.settings = settings
        self.store = store
        self.client = client if client is not None else calls.client_for(settings)
        self.clock = clock
        self.sleep = sleep
        self._slots = asyncio.Semaphore(settings.max_concurrency)

    async def aclose(self) -> None:
        if self.client is not None:
            await self.client.close()

    async def first_line(self, contact: Contact, brief: Brief) -> FirstLine:
        return (await self.first_lines([contact], brief))[0]

    async def first_lines(self, contacts: Sequence[Contact], brief: Brief) -> list[FirstLine]:
        """Each contact's line for ``brief.template``, in the order given; nothing stored."""
        prompts = [self._prompt(c, brief) for c in contacts]
        outcomes: dict[tuple[str, str], _Outcome] = {}
        for tenant in dict.fromkeys(c.tenant for c in contacts):
            mine = {p.key: p for c, p in zip(contacts, prompts, strict=True) if c.tenant == tenant}
            found = await self._for_tenant(tenant, list(mine.values()), brief)
            outcomes.update({(tenant, k): o for k, o in found.items()})
        lines = []
        for c, p in zip(contacts, prompts, strict=True):
            o = outcomes[(c.tenant, p.key)]
            lines.append(
                FirstLine(c.email, brief.template, o.text, o.source, o.reason, o.tokens, p.key)
            )
        return lines

    async def write_first_lines(self, contacts: Sequence[Contact], brief: Brief) -> list[FirstLine]:
        """``first_lines``, each stored with its contact and recorded as a contact event."""
        lines = await self.first_lines(contacts, brief)
        now = self.clock()
        field = first_line_key(brief.template)
        for c, line in zip(contacts, lines, strict=True):
            await self.store.update_custom(c.tenant, c.email, {field: line.text})
            detail = f"{brief.template}: {line.source}" + (
                f" ({line.reason})" if line.reason else ""
            )
            await self.store.add_contact_event(c.tenant, c.email, EVENT, detail, now)
        return lines

    def _prompt(self, c: Contact, brief: Brief) -> Prompt:
        s = self.settings
        return prompt.build(s.system_prompt, s.model, brief, c, s.max_chars)

    async def _for_tenant(
        self, tenant: str, prompts: list[Prompt], brief: Brief
    ) -> dict[str, _Outcome]:
        cached = await self.store.cached_first_lines(tenant, [p.key for p in prompts])
        out = {k: _Outcome(text, "cache") for k, text in cached.items()}
        todo = [p for p in prompts if p.key not in cached]
        if not todo:
            return out
        if self.client is None:
            return out | {p.key: _Outcome(brief.fallback, "fallback", NO_KEY) for p in todo}
        day = budget.day_of(self.clock())
        spent = await self.store.ai_tokens(tenant, day)
        costs = [
            budget.estimate(len(p.system) + len(p.user), self.settings.max_tokens) for p in todo
        ]
        n = budget.admitted(costs, self.settings.daily_token_budget, spent)
        out |= {p.key: _Outcome(brief.fallback, "fallback", BUDGET) for p in todo[n:]}
        if n < len(todo):
            log.warning("first lines: tenant %s: %d fall back, budget spent", tenant, len(todo) - n)
        if n:
            out |= await self._ask(tenant, todo[:n], brief)
        return out

    async def _ask(self, tenant: str, asked: list[Prompt], brief: Brief) -> dict[str, _Outcome]:
        client = self.client
        assert client is not None, "asked only with a client"
        if len(asked) >= self.settings.batch_threshold:
            answers = await calls.batch(client, self.settings, asked, self.sleep)
        else:
            found = await asyncio.gather(*(self._one(client, p) for p in asked))
            answers = {p.key: a for p, a in zip(asked, found, strict=True)}
        tokens = sum(a.tokens for a in answers.values() if isinstance(a, Answer))
        if tokens:
            await self.store.add_ai_tokens(tenant, budget.day_of(self.clock()), tokens)
        out = {p.key: self._judge(p, brief, answers[p.key]) for p in asked}
        good = {k: (o.text, o.tokens) for k, o in out.items() if o.source == "ai"}
        if good:
            await self.store.save_first_lines(tenant, good, self.settings.model, self.clock())
        return out

    async def _one(self, client: anthropic.AsyncAnthropic, p: Prompt) -> Answer | str:
        async with self._slots:
            return await calls.one(client, self.settings, p)

    def _judge(self, p: Prompt, brief: Brief, answer: Answer | str) -> _Outcome:
        if isinstance(answer, str):
            return _Outcome(brief.fallback, "fallback", answer)
        text = checks.clean(answer.text)
        reason = checks.check(
            text,
            language=p.language,
            inputs=[*p.facts.values(), brief.instruction],
            min_chars=self.settings.min_chars,
            max_chars=self.settings.max_chars,
            stop_reason=answer.stop_reason,
        )
        if reason:
            log.info("first line for %s refused: %s", brief.template, reason)
            return _Outcome(brief.fallback, "fallback", f"{CHECK}: {reason}", answer.tokens)
        return _Outcome(text, "ai", "", answer.tokens)
