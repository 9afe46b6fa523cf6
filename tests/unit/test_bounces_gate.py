"""The first-character gate changes no match of the classifier's patterns."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from policy.bounces.gate import gated
from policy.bounces.patterns import TEXT_PATTERNS

# Every pattern as written, before the gate (patterns.py gates them at import).
_UNGATED = [
    re.compile(rx.pattern[rx.pattern.index("(?:") + 3 : -1])
    if rx.pattern.startswith("(?=[")
    else rx
    for _, rx in TEXT_PATTERNS
]
_WORDS = [
    "550 5.1.1 <addr>: user unknown",
    "blocked using zen.spamhaus.org",
    "mailbox full",
    "over quota",
    "sender address rejected: domain not found",
    "too many recipients this hour",
    "5.7.515 ",
    "connection timed out",
    "not listed in",
    "-",
    " ",
    ".",
]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_WORDS) | st.text(max_size=12), max_size=12))
def test_gated_patterns_find_what_the_patterns_find(parts: list[str]) -> None:
    text = " ".join(parts).lower()
    for (_, rx), plain in zip(TEXT_PATTERNS, _UNGATED, strict=True):
        a, b = plain.search(text), rx.search(text)
        assert (a and a.span()) == (b and b.span()), (plain.pattern, text)


def test_a_pattern_that_may_start_anywhere_is_left_alone() -> None:
    for pattern in (r"(?:x)?", r"a*b?", r"\w+", r".foo"):
        rx = re.compile(pattern)
        assert gated(rx) is rx
    assert gated(re.compile(r"\bfoo|bar")).pattern == r"(?=[bf])(?:\bfoo|bar)"
