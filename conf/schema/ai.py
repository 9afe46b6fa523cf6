"""The ``ai:`` section: AI-written first lines (scheduler/personalization.py).

The API key must come from the environment (``api_key: "${ANTHROPIC_API_KEY:-}"``):
a key written in the file itself is refused, so it never lands in a
repository or a backup of the configuration. An empty or absent key is not
an error: every first line is then the template's fallback line. The key is
left out of the section's repr, so a logged settings tree does not show it.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from conf.schema.base import EnvText, Section
from conf.schema.rules import WebUrl

# The current small Claude model, as the installed SDK lists it
# (anthropic/types/model_param.py): fast and cheap enough for one sentence.
DEFAULT_MODEL = "claude-haiku-5-5"

DEFAULT_SYSTEM_PROMPT = (
    "You write the first line of a short business email to one person. "
    "Write exactly one sentence, in the language given, friendly and specific. "
    "Use only the facts given about the person; invent nothing (no numbers, names, "
    "places or achievements that are not in the facts). "
    "No greeting, no link, no email address, no phone number, no placeholder. "
    "Answer with the sentence only."
)


class AiSettings(Section):
    # From the environment only; empty: no calls, fallback lines.
    api_key: str | None = Field(default=None, repr=False)
    # The API's address; null: Anthropic's own. Tests point it at a local server.
    base_url: WebUrl | None = None
    model: str = Field(default=DEFAULT_MODEL, min_length=1)
    system_prompt: str = Field(default=DEFAULT_SYSTEM_PROMPT, min_length=1)
    # Requests to the API at once, from this process.
    max_concurrency: int = Field(default=4, gt=0, le=64)
    # Tokens one answer may use: a sentence needs few; a cut answer is refused.
    max_tokens: int = Field(default=150, gt=0, le=4096)
    # Seconds one request may take, and the SDK's own retries (429, 529, 5xx,
    # each after the server's retry-after when it gives one).
    timeout: float = Field(default=30.0, gt=0)
    max_retries: int = Field(default=3, ge=0, le=10)
    # Input + output tokens per tenant and UTC day; spent: fallback lines.
    daily_token_budget: int = Field(default=2_000_000, ge=0)
    # From this many contacts at once, the Message Batches API (half price, slower).
    batch_threshold: int = Field(default=50, gt=1)
    # Seconds between two looks at a batch, and the longest wait for it.
    batch_poll: float = Field(default=30.0, gt=0)
    batch_timeout: float = Field(default=86_400.0, gt=0)
    # A line shorter or longer than this (characters) is refused.
    min_chars: int = Field(default=20, gt=0)
    max_chars: int = Field(default=220, gt=0)

    @model_validator(mode="before")
    @classmethod
    def _key_from_environment(cls, data: Any) -> Any:
        if isinstance(data, dict):
            key = data.get("api_key")
            if isinstance(key, str) and key and not isinstance(key, EnvText):
                raise ValueError(
                    'api_key must come from the environment: api_key: "${ANTHROPIC_API_KEY:-}"'
                )
        return data

    def problems(self) -> list[tuple[str, str]]:
        if self.min_chars >= self.max_chars:
            return [("min_chars", "must be below max_chars")]
        return []

    @property
    def key(self) -> str | None:
        """The API key, None when none is configured."""
        return self.api_key or None
