"""The Anthropic calls behind first lines: one message, or a Message Batch for many.

Both go through the SDK's ``AsyncAnthropic``: its own retries (``max_retries``)
cover 429, 529 and 5xx and wait the server's ``retry-after`` when it gives
one, so nothing here retries by hand. An answer is an ``Answer``; a failure
is the text of its reason, which becomes the fallback line's reason.

A batch is created once, polled every ``batch_poll`` seconds up to
``batch_timeout``, then its results (JSONL, in no particular order) are
matched to the requests by ``custom_id``, which is each prompt's cache key.
A batch that does not end in time is cancelled and its lines fall back.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import anthropic
from anthropic.types import Message

from conf.schema.ai import AiSettings
from policy.personalization.lines import API
from policy.personalization.prompt import Prompt

log = logging.getLogger("sluice.personalization")

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class Answer:
    text: str
    stop_reason: str | None
    tokens: int  # input + output, from the answer's usage


def client_for(settings: AiSettings) -> anthropic.AsyncAnthropic | None:
    """The SDK's client, or None without a key (every line is then the fallback)."""
    key = settings.key
    if key is None:
        return None
    return anthropic.AsyncAnthropic(
        api_key=key,
        base_url=settings.base_url,
        timeout=settings.timeout,
        max_retries=settings.max_retries,
    )


def params(settings: AiSettings, p: Prompt) -> dict[str, Any]:
    return {
        "model": settings.model,
        "max_tokens": settings.max_tokens,
        "system": p.system,
        "messages": [{"role": "user", "content": p.user}],
    }


def answer_of(message: Message) -> Answer:
    text = "".join(block.text for block in message.content if block.type == "text")
    tokens = message.usage.input_tokens + message.usage.output_tokens
    return Answer(text, message.stop_reason, tokens)


def failure(exc: Exception) -> str:
    """A failed call's reason, naming the HTTP status or the transport's trouble."""
    if isinstance(exc, anthropic.APIStatusError):
        return f"{API}: HTTP {exc.status_code}"
    if isinstance(exc, anthropic.APITimeoutError):
        return f"{API}: timed out"
    if isinstance(exc, anthropic.APIConnectionError):
        return f"{API}: unreachable"
    return f"{API}: {type(exc).__name__}"


# A body that is not the API's JSON surfaces as the SDK's APIResponseValidationError
# or, for invalid JSON, as a ValueError from the decoder.
CALL_ERRORS = (anthropic.APIError, ValueError)


async def one(client: anthropic.AsyncAnthropic, settings: AiSettings, p: Prompt) -> Answer | str:
    try:
        message = await client.messages.create(**params(settings, p))
    except CALL_ERRORS as exc:
        log.warning("first line: the API call failed: %s", failure(exc))
        return failure(exc)
    return answer_of(message)


async def batch(
    client: anthropic.AsyncAnthropic,
    settings: AiSettings,
    prompts: Sequence[Prompt],
    sleep: Sleep = asyncio.sleep,
) -> dict[str, Answer | str]:
    """Each prompt's answer or failure, by its key, through one Message Batch."""
    requests = [{"custom_id": p.key, "params": params(settings, p)} for p in prompts]
    try:
        created = await client.messages.batches.create(requests=requests)  # type: ignore[arg-type]
        ended = await _wait(client, settings, created.id, sleep)
        if not ended:
            await client.messages.batches.cancel(created.id)
            reason = f"{API}: the batch did not end within {settings.batch_timeout:g} s"
            return {p.key: reason for p in prompts}
        found = await _results(client, created.id)
    except CALL_ERRORS as exc:
        log.warning("first lines: the batch failed: %s", failure(exc))
        return {p.key: failure(exc) for p in prompts}
    log.info("first lines: batch %s, %d requests, %d results", created.id, len(prompts), len(found))
    return {p.key: found.get(p.key, f"{API}: no result in the batch") for p in prompts}


async def _wait(
    client: anthropic.AsyncAnthropic, settings: AiSettings, batch_id: str, sleep: Sleep
) -> bool:
    waited = 0.0
    while True:
        current = await client.messages.batches.retrieve(batch_id)
        if current.processing_status == "ended":
            return True
        if waited >= settings.batch_timeout:
            return False
        await sleep(settings.batch_poll)
        waited += settings.batch_poll


async def _results(client: anthropic.AsyncAnthropic, batch_id: str) -> dict[str, Answer | str]:
    found: dict[str, Answer | str] = {}
    async for item in await client.messages.batches.results(batch_id):
        result = item.result
        if result.type == "succeeded":
            found[item.custom_id] = answer_of(result.message)
        else:  # errored, canceled, expired
            found[item.custom_id] = f"{API}: the batch request {result.type}"
    return found
