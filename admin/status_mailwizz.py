"""The status page's MailWizz line: the quota sync's last round, per delivery server.

MailWizz gives a subscriber up on any refusal, so whether its quotas are
current is what an operator checks first when mail is refused: when the
last round ran, what each server holds and why, and the round's notes
(clocks that differ, servers left alone).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scheduler.mailwizz_sync import RoundReport


@dataclass(frozen=True)
class ServerLine:
    server_id: int
    tenant: str
    status: str  # as written or left in MailWizz; "missing": no such row
    hourly_quota: int | None  # None: not known (missing row); 0 is MailWizz's no limit
    daily_quota: int | None
    why: str
    written: bool  # the last round updated the row


@dataclass(frozen=True)
class MailwizzLine:
    at: datetime | None  # the last round that worked; None: none yet
    interval: float
    late: bool  # no round has worked for two intervals: MailWizz's quotas may be stale
    notes: tuple[str, ...]
    servers: tuple[ServerLine, ...]


def line(report: RoundReport | None, interval: float, now: datetime) -> MailwizzLine:
    """The sync as the page shows it; `report` is its last round that worked."""
    if report is None:
        return MailwizzLine(None, interval, False, (), ())
    servers = []
    for s in report.servers:
        d = s.decision
        servers.append(
            ServerLine(
                server_id=s.server_id,
                tenant=s.tenant,
                status=d.status if d else "missing",
                hourly_quota=d.hourly_quota if d else None,
                daily_quota=d.daily_quota if d else None,
                why=(d.why if d else "") or s.warning,
                written=s.written,
            )
        )
    late = (now - report.at).total_seconds() > 2 * interval
    return MailwizzLine(report.at, interval, late, tuple(report.notes), tuple(servers))
