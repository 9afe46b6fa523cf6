"""What the model is told: the contact's facts, the template's instruction, and the cache key.

Only the facts listed here reach the model, and the output checks
(``policy.personalization.checks``) hold the line to them: a contact's
score, tier or status are Sluice's own ratings, not facts about the person,
so they are never sent. The cache key is a sha256 of everything that shapes
the answer (model, system prompt, the user message that carries the
instruction, the language and the facts), so a re-enrollment with the same
inputs finds the line already written and costs nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from policy.scenarios.contacts import Contact
from policy.scenarios.templates import FIRST_LINE_PREFIX  # lines are never facts

MAX_CUSTOM_FACTS = 20
MAX_FACT_CHARS = 200
LANGUAGE_NAMES = {
    "en": "English", "fr": "French", "de": "German", "es": "Spanish", "it": "Italian",
    "nl": "Dutch", "pt": "Portuguese",
}  # fmt: skip


@dataclass(frozen=True)
class Brief:
    """What a template asks of its first line: the instruction and the line used instead."""

    template: str
    instruction: str
    fallback: str = ""  # "" leaves the template's ``default`` filter to fill the gap


@dataclass(frozen=True)
class Prompt:
    system: str
    user: str
    language: str
    facts: Mapping[str, str]
    key: str  # sha256 hex of the inputs: the cache key, and the batch's custom_id


def facts_of(c: Contact) -> dict[str, str]:
    """The fields the model may use, by name, in a stable order; empty ones left out."""
    facts = {
        "first_name": c.first_name,
        "last_name": c.last_name,
        "country": c.country,
        "category": c.category,
        "website": c.domain,
    }
    custom = sorted(
        (k, v) for k, v in c.custom.items() if not k.startswith(FIRST_LINE_PREFIX) and _scalar(v)
    )
    for key, value in custom[:MAX_CUSTOM_FACTS]:
        facts[key] = str(value)[:MAX_FACT_CHARS]
    return {k: v.strip() for k, v in facts.items() if str(v).strip()}


def _scalar(value: Any) -> bool:
    return isinstance(value, str | int | float) and not isinstance(value, bool)


def build(system: str, model: str, brief: Brief, c: Contact, max_chars: int) -> Prompt:
    """The request's two texts for ``c`` under ``brief``, with their cache key."""
    language = c.language or "en"
    facts = facts_of(c)
    lines = "\n".join(f"- {k}: {v}" for k, v in facts.items())
    user = (
        f"Language: {LANGUAGE_NAMES.get(language, language)} ({language})\n"
        f"At most {max_chars} characters, one sentence.\n"
        f"Instruction: {brief.instruction.strip()}\n"
        f"Facts about the person:\n{lines}"
    )
    return Prompt(system, user, language, facts, cache_key(model, system, user))


def cache_key(model: str, system: str, user: str) -> str:
    blob = json.dumps({"model": model, "system": system, "user": user}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()
