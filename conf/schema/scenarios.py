"""The ``scenarios:`` section: how the scenario engine (``scheduler/scenarios/``) runs."""

from __future__ import annotations

from pydantic import Field

from conf.schema.base import Section


class ScenarioSettings(Section):
    # Off: the daemon runs no engine (the API still edits scenarios and enrolls).
    enabled: bool = True
    # Seconds between rounds that claim due operations.
    interval: float = Field(default=1.0, gt=0)
    # Operations claimed per round, all run at once (their ledger writes share commits),
    # and of those, the sends in the pipeline at once.
    batch: int = Field(default=200, gt=0, le=10_000)
    concurrency: int = Field(default=16, gt=0, le=1000)
    # Rounds one daemon runs side by side: while one waits on the database, another renders.
    lanes: int = Field(default=2, ge=1, le=8)
    # Seconds a claim holds before another daemon may take it back; a heartbeat renews it.
    lease: float = Field(default=120.0, ge=5)
    # Backoff after a 4xx (seconds, doubling per attempt up to retry_max), and the
    # attempts after which the send fails with its last reply.
    retry_base: float = Field(default=300.0, gt=0)
    retry_max: float = Field(default=21_600.0, gt=0)
    max_attempts: int = Field(default=30, gt=0)
    # Seconds between two looks for a human open or click while a branch waits on one.
    decide_poll: float = Field(default=600.0, gt=0)
