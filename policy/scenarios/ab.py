"""A/B variants: a deterministic assignment and the two-proportion z-test for a winner."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass


def assign(enrollment_id: str, step: str, weights: Sequence[int]) -> int:
    """The variant index for an enrollment at a step: the same answer on every run.

    sha256 of the enrollment and step, reduced modulo the total weight: a uniform
    point on the weights' line, so shares follow the weights within sampling error.
    """
    total = sum(weights)
    if total <= 0:
        raise ValueError("the weights must not all be 0")
    digest = hashlib.sha256(f"{enrollment_id}|{step}".encode()).digest()
    point = int.from_bytes(digest[:8], "big") % total
    for i, w in enumerate(weights):
        if point < w:
            return i
        point -= w
    return len(weights) - 1  # unreachable: the points are below the total


@dataclass(frozen=True)
class ZTest:
    z: float
    p_value: float  # two-sided


def z_test(hits_a: int, n_a: int, hits_b: int, n_b: int) -> ZTest:
    """Two-proportion z-test with the pooled proportion (p_a - p_b over its standard error)."""
    if n_a <= 0 or n_b <= 0:
        return ZTest(0.0, 1.0)
    pooled = (hits_a + hits_b) / (n_a + n_b)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    if se == 0:
        return ZTest(0.0, 1.0)
    z = (hits_a / n_a - hits_b / n_b) / se
    return ZTest(z, math.erfc(abs(z) / math.sqrt(2)))


@dataclass(frozen=True)
class Decision:
    winner: int
    runner_up: int
    rates: tuple[float, ...]
    z: float
    p_value: float


def winner(
    hits: Sequence[int], sent: Sequence[int], *, min_sample: int, confidence: float
) -> Decision | None:
    """The best variant when every variant has ``min_sample`` sends and the best beats the
    second best at ``confidence`` (two-sided); None while undecided."""
    if len(sent) < 2 or any(n < min_sample for n in sent):
        return None
    rates = tuple(h / n for h, n in zip(hits, sent, strict=True))
    order = sorted(range(len(rates)), key=lambda i: rates[i], reverse=True)
    best, second = order[0], order[1]
    test = z_test(hits[best], sent[best], hits[second], sent[second])
    if test.p_value > 1 - confidence:
        return None
    return Decision(best, second, rates, test.z, test.p_value)
