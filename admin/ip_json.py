"""The JSON of an IP's quota lines, state and rates, with the models that describe it.

Shared by the pools, IPs and quotas routes, so one IP reads the same
wherever the API shows it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field

from admin.api_models import Out
from policy.feedback.health import ALL, Counts, Finding
from policy.quota.measures import Measure
from policy.quota.operations import IpQuota, Line

Count = Annotated[int, Field(ge=0)]
# A limit's figure; None: there is no limit.
MaybeCount = Annotated[int | None, Field(ge=0)]
Rate = float | None
# An ISO 8601 time as the answers write it (datetime.isoformat, the zone's offset kept).
IsoTime = Annotated[str, Field(json_schema_extra={"format": "date-time"})]
State = Literal["warming", "warm", "paused", "quarantined", "resting", "retiring", "not started"]


class LineOut(Out):
    """A limit and its use; limit and remaining are null when there is no limit."""

    limit: MaybeCount
    used: Count
    remaining: MaybeCount


class Warmup(Out):
    schedule: str
    day: int = Field(ge=1)
    days: int = Field(ge=1)


class IpQuotaOut(Out):
    ip: str
    vmta: str
    hostname: str
    pool: str
    state: State
    in_rotation: bool
    out_of_rotation: str | None = Field(
        description="Why the gateway does not use the IP now; null when it does."
    )
    warmup: Warmup | None = Field(
        description="Day N of M of the schedule; null when the IP is warm."
    )
    daily: LineOut
    hourly: LineOut | None = Field(description="Warming IPs only.")
    groups: dict[str, LineOut] = Field(
        description="Provider groups with a limit of their own today."
    )


class Window(Out):
    """Recipients in the window and the rates over those relayed (null: none)."""

    relayed: Count
    bounced: Count
    complained: Count
    delayed: Count
    bounce_rate: Rate = None
    complaint_rate: Rate = None
    deferral_rate: Rate = None


class Windows(Out):
    last_hour: Window = Field(alias="1h")
    last_day: Window = Field(alias="24h")


class Alert(Out):
    window: str
    provider: str
    metric: Literal["bounce", "complaint", "deferral"]
    rate: float
    sample: Count
    action: Literal["hold", "throttle", "quarantine"]
    message: str


class MeasureOut(Out):
    kind: Literal["hold", "throttle"]
    provider: str
    hourly: int = Field(description="A throttle's cap per hour (0 for a hold).")
    reason: str
    since: float
    until: float


class Rates(Windows):
    providers: dict[str, Windows] = Field(
        description="The same per provider group that had traffic in the last 24 h."
    )
    alerts: list[Alert] = Field(
        description="Health thresholds (feedback.health) crossed, quarantines first."
    )
    measures: list[MeasureOut] = Field(
        description="Health holds and throttles in force (feedback.health)."
    )


class IpWithRates(IpQuotaOut):
    rates: Rates


def line(value: Line | None) -> dict[str, Any] | None:
    if value is None:
        return None
    return {"limit": value.limit, "used": value.used, "remaining": value.remaining}


def ip_quota(row: IpQuota) -> dict[str, Any]:
    warmup = None
    if row.schedule is not None:
        warmup = {"schedule": row.schedule, "day": row.day, "days": row.schedule_days}
    return {
        "ip": row.ip,
        "vmta": row.vmta,
        "hostname": row.hostname,
        "pool": row.pool,
        "state": row.state,
        "in_rotation": row.in_rotation,
        "out_of_rotation": row.out_of_rotation,
        "warmup": warmup,
        "daily": line(row.daily),
        "hourly": line(row.hourly),
        "groups": {group: line(value) for group, value in row.groups.items()},
    }


WindowTables = Mapping[str, Mapping[tuple[str, str], Counts]]


def rates(
    ip: str, windows: WindowTables, findings: list[Finding], active: Sequence[Measure] = ()
) -> dict[str, Any]:
    """The IP's counts and rates per window, per provider group, the thresholds crossed
    and the holds and throttles they put in force."""
    out: dict[str, Any] = {name: window(table.get((ip, ALL))) for name, table in windows.items()}
    groups = sorted({g for table in windows.values() for (i, g) in table if i == ip and g != ALL})
    out["providers"] = {
        g: {name: window(table.get((ip, g))) for name, table in windows.items()} for g in groups
    }
    out["alerts"] = [
        {
            "window": f.window,
            "provider": f.provider,
            "metric": f.metric,
            "rate": f.rate,
            "sample": f.sample,
            "action": f.action,
            "message": f.describe(),
        }
        for f in findings
        if f.ip == ip
    ]
    out["measures"] = [
        {
            "kind": m.kind,
            "provider": m.provider,
            "hourly": m.hourly,
            "reason": m.reason,
            "since": m.at,
            "until": m.until,
        }
        for m in active
        if m.ip == ip
    ]
    return out


def window(counts: Counts | None) -> dict[str, Any]:
    c = counts or Counts()

    def rate(n: int) -> float | None:
        return n / c.relayed if c.relayed else None

    return {
        "relayed": c.relayed,
        "bounced": c.bounced,
        "complained": c.complained,
        "delayed": c.delayed,
        "bounce_rate": rate(c.bounced),
        "complaint_rate": rate(c.complained),
        "deferral_rate": rate(c.delayed),
    }


def iso(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat()
