"""A model's line, checked before any contact sees it: "" when fine, else the reason.

The rules, in order (the first that fails is the reason):

1. one line, within the configured length, not cut off by ``max_tokens``;
2. no template syntax (``{{``, ``{%``, ``{#``, ``}}``, ``%}``) and no bracketed
   placeholder such as ``[FNAME]`` or ``[Company]``: it would be rendered, or
   sent as it is;
3. no email address, no URL (a scheme, ``www.`` or any ``name.tld``), no phone
   number (seven digits or more, spaces, dots, dashes and brackets between);
4. no claim beyond the inputs: every number in the line must appear in the
   contact's facts or the instruction, and every capitalised word that does
   not start a sentence (a proper noun, an acronym) must be one of their
   words. German capitalises every noun, so for ``de`` only numbers are held;
   "I" is allowed;
5. the language plausibly the contact's (``policy.personalization.language``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from policy.personalization.language import plausible

_TEMPLATE = re.compile(r"\{\{|\}\}|\{%|%\}|\{#|#\}|\[[^\]\n]{1,40}\]")
_EMAIL = re.compile(r"[^\s@]+@[^\s@]+")
_URL = re.compile(
    r"(?i)(?:[a-z][a-z0-9+.-]*://|www\.)\S*"
    r"|\b[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9-]+)*\.[a-z]{2,24}\b"
)
_PHONE = re.compile(r"\+?\(?\d[\d\s().-]{5,}\d")
_DIGITS = re.compile(r"\d+")
_WORD = re.compile(r"[^\W\d_]+(?:['\u2019][^\W\d_]+)*")
_SENTENCE_END = ".!?:…"
_OPENERS = "\"'«“\u2018(¡¿ "


def clean(raw: str) -> str:
    """The answer as a line: outer spaces and one pair of wrapping quotes removed."""
    text = raw.strip()
    if len(text) >= 2 and text[0] in "\"'“«" and text[-1] in "\"'”»":
        text = text[1:-1].strip()
    return text


def check(
    text: str,
    *,
    language: str,
    inputs: Iterable[str],
    min_chars: int,
    max_chars: int,
    stop_reason: str | None = "end_turn",
) -> str:
    """ "" when ``text`` may be used, else why not; ``inputs``: the facts and the instruction."""
    if stop_reason not in (None, "end_turn", "stop_sequence"):
        return f"the answer stopped early ({stop_reason})"
    if "\n" in text or "\r" in text:
        return "more than one line"
    if not min_chars <= len(text) <= max_chars:
        return f"{len(text)} characters (from {min_chars} to {max_chars} allowed)"
    if m := _TEMPLATE.search(text):
        return f"template syntax {m.group(0)!r}"
    if _EMAIL.search(text):
        return "an email address"
    if m := _URL.search(text):
        return f"a link {m.group(0)!r}"
    if any(_digit_count(m) >= 7 for m in _PHONE.finditer(text)):
        return "a phone number"
    source = " ".join(inputs)
    return _claims(text, language, source) or _language(text, language)


def _digit_count(m: re.Match[str]) -> int:
    return sum(ch.isdigit() for ch in m.group(0))


def _claims(text: str, language: str, source: str) -> str:
    known_numbers = set(_DIGITS.findall(source))
    for number in _DIGITS.findall(text):
        if number not in known_numbers:
            return f"the number {number} is not in the contact's fields"
    if language == "de":
        return ""
    known_words = {w.lower() for w in _WORD.findall(source)}
    for m in _WORD.finditer(text):
        word = m.group(0)
        if not word[0].isupper() or word == "I" or word.lower() in known_words:
            continue
        if not _starts_sentence(text, m.start()):
            return f"{word!r} is not in the contact's fields"
    return ""


def _starts_sentence(text: str, at: int) -> bool:
    before = text[:at].rstrip(_OPENERS)
    return not before or before[-1] in _SENTENCE_END


def _language(text: str, language: str) -> str:
    if plausible(text, language):
        return ""
    return f"does not read as the contact's language ({language})"
