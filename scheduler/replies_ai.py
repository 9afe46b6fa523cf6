"""The model's class for a reply: one ``messages.create`` through the SDK, JSON back.

As for first lines (``scheduler/personalization_batch.py``), the SDK retries
429, 529 and 5xx itself, honouring ``retry-after``; the key and the address
come from ``ai:``. No key, a spent daily token budget, an API that stays
down or an answer that is not the JSON asked for gives None and a reason:
the reply is then ``other``, marked for review (rules only).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

import anthropic

from conf import Settings
from policy.replies.prompt import SYSTEM, ModelVerdict, read_answer, user_text
from policy.store import Store
from scheduler.personalization_batch import answer_of, client_for, failure

log = logging.getLogger("sluice.replies")


class ReplyClassifier:
    def __init__(
        self,
        store: Store,
        settings: Callable[[], Settings],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self._client: anthropic.AsyncAnthropic | None = None
        self._client_for: object = None  # the ai: section the client was built from
        self._gate: asyncio.Semaphore | None = None

    def _client_now(self) -> anthropic.AsyncAnthropic | None:
        ai = self.settings().ai
        if ai is not self._client_for:  # a reload may change the key or the address
            self._client = client_for(ai)
            self._client_for = ai
            self._gate = asyncio.Semaphore(ai.max_concurrency)
        return self._client

    async def classify(
        self, tenant: str, subject: str, own_text: str
    ) -> tuple[ModelVerdict | None, str]:
        """The model's verdict and '' , or None and why there is none."""
        client = self._client_now()
        if client is None:
            return None, "no AI key configured"
        s = self.settings()
        day = datetime.fromtimestamp(self.clock(), UTC).strftime("%Y-%m-%d")
        if await self.store.ai_tokens(tenant, day) >= s.ai.daily_token_budget:
            return None, "daily AI token budget spent"
        assert self._gate is not None
        try:
            async with self._gate:
                message = await client.messages.create(
                    model=s.ai.model,
                    max_tokens=s.replies.max_tokens,
                    system=SYSTEM,
                    messages=[
                        {
                            "role": "user",
                            "content": user_text(subject, own_text, s.replies.max_chars),
                        }
                    ],
                )
        except (anthropic.APIError, ValueError) as exc:
            why = failure(exc)
            log.warning("reply classification failed for %s: %s", tenant, why)
            return None, why
        answer = answer_of(message)
        await self.store.add_ai_tokens(tenant, day, answer.tokens)
        verdict = read_answer(answer.text)
        if verdict is None:
            return None, "the model's answer is not the JSON asked for"
        return verdict, ""

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
