"""Injected crash points for the exactly-once tests: ``SLUICE_TEST_CRASH_AT=<point>``.

Read only here, only to end the process at once (``os._exit``, as a kill -9
would: no cleanup, no flush) when the engine passes that point. Unset in
production, it costs one comparison per operation.
"""

from __future__ import annotations

import os

POINTS = ("after_claim", "after_250", "before_commit")
VARIABLE = "SLUICE_TEST_CRASH_AT"


_AT = os.environ.get(VARIABLE)  # read once: the tests set it for the process they start


def point(name: str) -> None:
    if name == _AT:
        os._exit(137)
