"""The store's protocol for AI-written first lines: the cache of checked lines, the token count."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol


class PersonalizationStore(Protocol):
    # The cached lines among ``keys`` (sha256 of the inputs), by key.
    async def cached_first_lines(self, tenant: str, keys: Sequence[str]) -> dict[str, str]: ...
    # Lines that passed their checks, by key: (text, tokens they cost), from ``model``.
    async def save_first_lines(
        self, tenant: str, lines: Mapping[str, tuple[str, int]], model: str, now: float
    ) -> None: ...
    # Adds to the tenant's tokens of a day (YYYY-MM-DD, UTC).
    async def add_ai_tokens(self, tenant: str, day: str, tokens: int) -> None: ...
    async def ai_tokens(self, tenant: str, day: str) -> int: ...
