"""The JSON of an IP's quota lines, state and rates, with the schemas that describe it.

Shared by the pools, IPs and quotas routes, so one IP reads the same
wherever the API shows it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from policy.feedback.health import ALL, Counts, Finding
from policy.quota.measures import Measure
from policy.quota.operations import IpQuota, Line

COUNT = {"type": "integer", "minimum": 0}
MAYBE_COUNT = {"type": "integer", "minimum": 0, "nullable": True}
TIME = {"type": "string", "format": "date-time"}
# A route's error answer beyond the ones api.route adds on its own (409, 503).
ERROR_REF = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}

LINE_SCHEMA = {
    "type": "object",
    "description": "A limit and its use; limit and remaining are null when there is no limit.",
    "required": ["limit", "used", "remaining"],
    "properties": {"limit": MAYBE_COUNT, "used": COUNT, "remaining": MAYBE_COUNT},
}

IP_SCHEMA = {
    "type": "object",
    "required": [
        "ip",
        "vmta",
        "hostname",
        "pool",
        "state",
        "in_rotation",
        "out_of_rotation",
        "warmup",
        "daily",
        "hourly",
        "groups",
    ],
    "properties": {
        "ip": {"type": "string"},
        "vmta": {"type": "string"},
        "hostname": {"type": "string"},
        "pool": {"type": "string"},
        "state": {
            "type": "string",
            "enum": ["warming", "warm", "paused", "quarantined", "resting", "not started"],
        },
        "in_rotation": {"type": "boolean"},
        "out_of_rotation": {
            "type": "string",
            "nullable": True,
            "description": "Why the gateway does not use the IP now; null when it does.",
        },
        "warmup": {
            "type": "object",
            "nullable": True,
            "description": "Day N of M of the schedule; null when the IP is warm.",
            "required": ["schedule", "day", "days"],
            "properties": {
                "schedule": {"type": "string"},
                "day": {"type": "integer", "minimum": 1},
                "days": {"type": "integer", "minimum": 1},
            },
        },
        "daily": LINE_SCHEMA,
        "hourly": {**LINE_SCHEMA, "nullable": True, "description": "Warming IPs only."},
        "groups": {
            "type": "object",
            "description": "Provider groups with a limit of their own today.",
            "additionalProperties": LINE_SCHEMA,
        },
    },
}

WINDOW_SCHEMA = {
    "type": "object",
    "description": "Recipients in the window and the rates over those relayed (null: none).",
    "required": ["relayed", "bounced", "complained", "delayed"],
    "properties": {
        "relayed": COUNT,
        "bounced": COUNT,
        "complained": COUNT,
        "delayed": COUNT,
        "bounce_rate": {"type": "number", "nullable": True},
        "complaint_rate": {"type": "number", "nullable": True},
        "deferral_rate": {"type": "number", "nullable": True},
    },
}

RATES_SCHEMA = {
    "type": "object",
    "required": ["1h", "24h", "providers", "alerts", "measures"],
    "properties": {
        "1h": WINDOW_SCHEMA,
        "24h": WINDOW_SCHEMA,
        "providers": {
            "type": "object",
            "description": "The same per provider group that had traffic in the last 24 h.",
            "additionalProperties": {
                "type": "object",
                "properties": {"1h": WINDOW_SCHEMA, "24h": WINDOW_SCHEMA},
            },
        },
        "alerts": {
            "type": "array",
            "description": "Health thresholds (feedback.health) crossed, quarantines first.",
            "items": {
                "type": "object",
                "properties": {
                    "window": {"type": "string"},
                    "provider": {"type": "string"},
                    "metric": {"type": "string", "enum": ["bounce", "complaint", "deferral"]},
                    "rate": {"type": "number"},
                    "sample": COUNT,
                    "action": {"type": "string", "enum": ["hold", "throttle", "quarantine"]},
                    "message": {"type": "string"},
                },
            },
        },
        "measures": {
            "type": "array",
            "description": "Health holds and throttles in force (feedback.health).",
            "items": {
                "type": "object",
                "properties": {
                    "kind": {"type": "string", "enum": ["hold", "throttle"]},
                    "provider": {"type": "string"},
                    "hourly": {
                        "type": "integer",
                        "description": "A throttle's cap per hour (0 for a hold).",
                    },
                    "reason": {"type": "string"},
                    "since": {"type": "number"},
                    "until": {"type": "number"},
                },
            },
        },
    },
}

IP_WITH_RATES_SCHEMA = {
    **IP_SCHEMA,
    "required": [*IP_SCHEMA["required"], "rates"],
    "properties": {**IP_SCHEMA["properties"], "rates": RATES_SCHEMA},
}


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


Windows = Mapping[str, Mapping[tuple[str, str], Counts]]


def rates(
    ip: str, windows: Windows, findings: list[Finding], active: Sequence[Measure] = ()
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
