"""A first-character gate for the classifier's patterns (speed only).

Python's ``re`` tries every alternative of a pattern at every position of
the text.  Most bounce patterns can only start with a few letters, so a
lookahead on those letters, ``(?=[abc])``, lets the engine pass over every
other position at once: the same matches, about twice as fast on bounce
text.  The set is worked out from the parsed pattern; when it cannot be
told (an alternative that may match empty, a class it does not follow), the
pattern is left as it is.
"""

from __future__ import annotations

import re
from typing import Any

try:  # the parser is internal to ``re``; without it nothing is gated
    from re import _parser  # type: ignore[attr-defined]  # typeshed has no stub for it
except ImportError:  # pragma: no cover
    _parser = None

_ZERO_WIDTH = frozenset({"AT", "ASSERT", "ASSERT_NOT"})


def _first(items: object) -> set[str] | None:
    """Characters a match can start with, or ``None`` when unknown."""
    out: set[str] = set()
    for op, av in items:  # type: ignore[attr-defined]
        name = str(op)
        if name in _ZERO_WIDTH:
            continue
        if name == "LITERAL":
            return out | {chr(av)}
        if name == "IN":
            chars = _class(av)
            return None if chars is None else out | chars
        if name == "BRANCH":
            for branch in av[1]:
                f = _first(branch)
                if f is None:
                    return None
                out |= f
            return out
        if name == "SUBPATTERN":
            f = _first(av[3])
            return None if f is None else out | f
        if name in ("MAX_REPEAT", "MIN_REPEAT"):
            f = _first(av[2])
            if f is None:
                return None
            out |= f
            if av[0] == 0:
                continue  # optional: what follows may start the match
            return out
        return None
    return None  # the pattern may match the empty string


def _class(av: list[Any]) -> set[str] | None:
    chars: set[str] = set()
    for op, a in av:
        name = str(op)
        if name == "LITERAL":
            chars.add(chr(a))
        elif name == "RANGE":
            chars.update(chr(c) for c in range(a[0], a[1] + 1))
        else:
            return None
    return chars


def gated(rx: re.Pattern[str]) -> re.Pattern[str]:
    """``rx`` behind a lookahead on its possible first characters."""
    if _parser is None or rx.flags & re.IGNORECASE:
        return rx
    try:
        first = _first(_parser.parse(rx.pattern, rx.flags))
    except Exception:  # an unforeseen shape: leave it alone
        return rx
    if not first or len(first) > 40:
        return rx
    chars = "".join(re.escape(c) for c in sorted(first))
    return re.compile(f"(?=[{chars}])(?:{rx.pattern})", rx.flags)
