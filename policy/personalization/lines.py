"""A first line as written for one contact and template, with where it came from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Source = Literal["ai", "cache", "fallback"]

# Why a line is the template's fallback (the reason starts with one of these).
NO_KEY = "no API key configured"
BUDGET = "the tenant's daily token budget is spent"
API = "the API failed"
CHECK = "the line failed its check"


@dataclass(frozen=True)
class FirstLine:
    email: str
    template: str
    text: str
    source: Source
    reason: str = ""  # why the fallback was used; "" for ai and cache
    tokens: int = 0  # input + output tokens this line cost now (0 from the cache)
    key: str = ""  # the inputs' sha256 (policy.personalization.prompt.cache_key)


def fallback(email: str, template: str, text: str, reason: str, key: str = "") -> FirstLine:
    return FirstLine(email, template, text, "fallback", reason, 0, key)
