"""The daily token budget per tenant: which day a token counts on, and what may still be asked.

Tokens are counted from each answer's ``usage`` (input + output) on the UTC
day the answer came. Before asking, a request's cost is estimated from its
prompt (one token per three characters, generous for Latin scripts) plus
``max_tokens``; a request is only sent when the estimate fits in what is
left, so the budget is overrun by at most the estimates' error, never by a
whole batch.
"""

from __future__ import annotations

import time
from collections.abc import Sequence


def day_of(at: float) -> str:
    """The UTC day of ``at`` (epoch seconds) as YYYY-MM-DD: the budget's unit."""
    return time.strftime("%Y-%m-%d", time.gmtime(at))


def estimate(prompt_chars: int, max_tokens: int) -> int:
    return prompt_chars // 3 + 1 + max_tokens


def admitted(estimates: Sequence[int], budget: int, spent: int) -> int:
    """How many of the requests, in order, fit in what is left of the day's budget."""
    left = budget - spent
    count = 0
    for cost in estimates:
        if cost > left:
            break
        left -= cost
        count += 1
    return count
