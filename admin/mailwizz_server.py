"""What to type into MailWizz's SMTP delivery server form for one tenant.

Pure: the settings and the tenant's quota rows (policy.quota.operations.quotas) in,
a JSON-ready dict out. The quotas are what the tenant's pool can still take
now: a MailWizz that paces itself under them is not refused by the gateway
for want of warmup quota (provider-group limits of warming IPs aside: a
recipient over its group's day still gets 451 and is retried).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from admin import mailwizz_form
from conf import Settings, TenantSettings, split_hostport
from policy.quota.mailwizz import least
from policy.quota.operations import IpQuota, totals

# MailWizz adds these to every campaign message itself (the X-Mw- header prefix).
MAILWIZZ_HEADERS = ("x-mw-campaign-uid", "x-mw-subscriber-uid")
# Sluice removes these from what senders submit and sets its own.
CONTROL_HEADERS = ("X-Virtual-MTA", "X-Job")


def delivery_server(settings: Settings, tenant: str, rows: Sequence[IpQuota]) -> dict[str, Any]:
    """The form's values for ``tenant``; ``rows`` are its pool's IPs as of now."""
    t = next(x for x in settings.tenants if x.name == tenant)
    smtp = settings.smtp
    _, port = split_hostport(smtp.listen)
    hourly_limit, hourly_left = _hourly(rows)
    day = totals(rows)
    notes = []
    if smtp.tls is not None:
        notes.append("starttls: plain connection upgraded by STARTTLS (not SSL from the start)")
    else:
        notes.append(
            "smtp.tls is not set: Sluice takes AUTH only from loopback and trusted networks"
        )
    if not t.credentials:
        networks = ", ".join(t.trusted_networks)
        notes.append(f"no credentials: MailWizz must connect from {networks} and send no AUTH")
    notes.append("a null quota is no limit: leave MailWizz's field at 0")
    if hourly_left == 0 or day.remaining == 0:
        notes.append("no quota left now: pause the delivery server until the next hour or day")
    return {
        "tenant": t.name,
        "type": "smtp",
        "hostname": smtp.advertised_host or smtp.hostname,
        "port": port,
        "protocol": "starttls" if smtp.tls is not None else "none",
        "usernames": [c.username for c in t.credentials],
        "from_domains": list(t.sender_domains),
        "hourly_quota": hourly_left,
        "daily_quota": day.remaining,
        "capacity": {
            "ips": [r.ip for r in rows if r.in_rotation],
            "hourly_limit": hourly_limit,
            "hourly_remaining": hourly_left,
            "daily_limit": day.capacity,
            "daily_used": day.used,
            "daily_remaining": day.remaining,
        },
        "limits": {
            "max_connections_per_client": smtp.max_connections_per_client,
            "max_recipients_per_message": smtp.max_recipients,
            "max_message_size": smtp.max_message_size,
        },
        "additional_headers": _additional_headers(t),
        "headers_read": _headers_read(t),
        "notes": notes,
        "form": mailwizz_form.form(settings, t, hourly_left, day.remaining),
    }


def _hourly(rows: Sequence[IpQuota]) -> tuple[int | None, int | None]:
    """This hour's limit and room over the IPs in rotation; an hour never outruns its day."""
    limits: list[int | None] = []
    left: list[int | None] = []
    for row in rows:
        if not row.in_rotation:
            continue
        if row.hourly is None:
            limits.append(row.daily.limit)
            left.append(row.daily.remaining)
        else:
            limits.append(least(row.hourly.limit, row.daily.limit))
            left.append(least(row.hourly.remaining, row.daily.remaining))
    return _total(limits), _total(left)


def _additional_headers(tenant: TenantSettings) -> list[dict[str, str]]:
    """The headers MailWizz must add: the campaign header, when it is not one MailWizz adds."""
    if tenant.job_header.lower() in MAILWIZZ_HEADERS:
        return []
    return [{"name": tenant.job_header, "value": "[CAMPAIGN_UID]"}]


def _headers_read(tenant: TenantSettings) -> list[dict[str, Any]]:
    job = tenant.job_header
    out: list[dict[str, Any]] = [
        {
            "name": job,
            "use": f"the campaign: copied into {tenant.job_out_header} for PowerMTA's jobId",
            "added_by_mailwizz": job.lower() in MAILWIZZ_HEADERS,
        }
    ]
    if job.lower() != "x-mw-subscriber-uid":
        out.append(
            {
                "name": "X-Mw-Subscriber-Uid",
                "use": "the subscriber: kept out of Feedback-ID, matched in bounces",
                "added_by_mailwizz": True,
            }
        )
    for name in CONTROL_HEADERS:
        out.append(
            {"name": name, "use": "removed: Sluice sets its own", "added_by_mailwizz": False}
        )
    return out


def _total(values: list[int | None]) -> int | None:
    if any(v is None for v in values):
        return None
    return sum(v or 0 for v in values)
