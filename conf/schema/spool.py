"""The ``spool:`` section: where Sluice keeps messages while PowerMTA cannot take them.

MailWizz never retries a 4xx (it marks the subscriber ``giveup``), so when
PowerMTA refuses with a 4xx, times out before DATA, or is down, Sluice
writes the signed message here and answers 250; a sibling task delivers it
when PowerMTA is back (``gateway.spool``, ``scheduler.spool_delivery``).

On by default, under the state folder ``var/`` like the SQLite store: an
operator upgrading sees no change while PowerMTA answers, and a MailWizz
sender stops losing subscribers to PowerMTA restarts. ``dir: null`` turns
it off (a 4xx from PowerMTA is then passed on as before).
"""

from __future__ import annotations

from pydantic import Field

from conf.schema.base import Section


class SpoolSettings(Section):
    # Each process keeps its own subfolder (``<dir>/<host>-<pid>``) under this one.
    dir: str | None = Field(default="var/spool", min_length=1)
    # Past either bound a message PowerMTA cannot take is refused with 451 4.3.1.
    max_bytes: int = Field(default=2 * 1024**3, gt=0)
    max_messages: int = Field(default=100_000, gt=0)
    # Seconds a message may wait; then it is reported as an internal bounce.
    max_age: float = Field(default=86_400.0, gt=0)
    # Seconds between delivery rounds while PowerMTA is away (doubled on failure, up to 60 s).
    retry_interval: float = Field(default=5.0, gt=0)

    @property
    def enabled(self) -> bool:
        return self.dir is not None
