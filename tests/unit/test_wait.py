"""The suite's poll helper: returns once the condition holds, fails when it never does."""

from __future__ import annotations

import time

import pytest

from tests.support.wait import code_is, until


async def test_returns_the_first_true_answer_of_a_plain_or_async_check():
    answers = iter([0, 0, 3])
    assert await until(lambda: next(answers), every=0) == 3

    async def probe() -> tuple[int, str]:
        return 250, "2.0.0 ok"

    assert await until(probe, done=code_is(250)) == (250, "2.0.0 ok")


async def test_fails_after_the_timeout_naming_the_last_answer():
    started = time.monotonic()
    with pytest.raises(
        AssertionError, match=r"a 550 reply not met within 0.2 s; last answer: \(451"
    ):
        await until(
            lambda: (451, "4.7.0 paused"), done=code_is(550), timeout=0.2, what="a 550 reply"
        )
    assert 0.2 <= time.monotonic() - started < 2
