"""`python -m tests.support.clocked_cli START ARGS...`: sluice on a clock starting at START.

The daemon takes the time of day from ``gateway.runtime.utc_now`` (quota windows,
the warmup clock, the admin API). A test whose counters name the hour or the date
runs its daemons here, on a clock that starts where the test chose and then runs
on, so the run never crosses a window boundary and no test waits one out.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, tzinfo

from gateway import cli, runtime


def starting_at(start: datetime) -> type[datetime]:
    """A datetime class whose ``now()`` is START plus the time elapsed since this call."""
    offset = start - datetime.now(UTC)

    class Shifted(datetime):
        @classmethod
        def now(cls, tz: tzinfo | None = None) -> datetime:
            return datetime.now(tz) + offset

    return Shifted


if __name__ == "__main__":
    # utc_now looks datetime up in its module at each call: every reader of the clock moves.
    runtime.datetime = starting_at(datetime.fromisoformat(sys.argv[1]))  # type: ignore[misc]
    sys.exit(cli.main(sys.argv[2:]))
