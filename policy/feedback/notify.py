"""What Sluice tells others about feedback: MailWizz records and signed webhooks. Pure.

MailWizz: its PowerMTA delivery server takes PowerMTA accounting records as
JSON at ``/dswh/pmta`` and finds the campaign and subscriber by
``header_Message-Id`` (and the ``X-Mw-*`` headers), the bounce type by
``bounceCat``. A bounce is sent as a ``b`` record whose ``bounceCat`` is the
classifier's, so MailWizz's own mapping gives hard (bad-mailbox,
inactive-mailbox, bad-domain), soft or internal; a reputation block carries
a sender-side category and never unsubscribes anyone. A complaint is an
``f`` record. Delays and auto-replies are not sent.

Webhooks: a JSON object ``{"events": [...]}`` per batch, signed with the
hook's secret as ``X-Sluice-Signature: t=<unix time>,v1=<hex>`` where the hex
is HMAC-SHA256 over ``"<t>.<body>"`` (the receiver checks the time too, so
a captured batch cannot be replayed later).

MailWizz's API (``unsubscribe.mailwizz``, ``policy.feedback.mailwizz``): one
item per unsubscribe or complaint, naming the address, sent on its own (a
search, then the unsubscribes), never batched with others.

A notification waits in the store's queue under a target
``<kind>\\t<tenant>\\t<url>``; the secret (a webhook's, the API key) is
never stored, it is looked up in the configuration when the item is sent.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
from datetime import UTC, datetime

from policy.feedback.decision import BOUNCED, COMPLAINED, Decision, Feedback

MAILWIZZ = "mailwizz"
MAILWIZZ_API = "mailwizz_api"
WEBHOOK = "webhook"
MAX_BACKOFF = 3600.0


def target(kind: str, tenant: str, url: str) -> str:
    return f"{kind}\t{tenant}\t{url}"


def parse_target(value: str) -> tuple[str, str, str]:
    kind, tenant, url = [*value.split("\t", 2), "", ""][:3]
    return kind, tenant, url


def mailwizz_record(fb: Feedback, decision: Decision) -> dict[str, str] | None:
    """The PowerMTA-style record MailWizz reads, or None when MailWizz need not know."""
    if decision.event not in (BOUNCED, COMPLAINED):
        return None
    r = fb.report
    record = {
        "type": "f" if decision.event == COMPLAINED else "b",
        "timeLogged": datetime.fromtimestamp(fb.at, UTC).strftime("%Y-%m-%d %H:%M:%S%z"),
        "rcpt": fb.recipient,
        "dlvSourceIp": fb.origin.ip,
        "jobId": fb.origin.job or r.x_job,
        "header_Message-Id": fb.origin.message_id or r.message_id,
        "header_X-Mw-Campaign-Uid": r.x_mw_campaign_uid,
        "header_X-Mw-Subscriber-Uid": r.x_mw_subscriber_uid,
    }
    if decision.event == COMPLAINED:
        record["feedbackType"] = r.feedback_type or "abuse"
    else:
        record.update(
            bounceCat=r.pmta_bounce_cat,
            dsnAction=r.action or "failed",
            dsnStatus=r.status,
            dsnDiag=r.diagnostic,
            dsnMta=r.remote_mta,
        )
    return record


def mailwizz_unsubscribe(
    address: str, reason: str, source: str, job: str = "", subscriber_uid: str = ""
) -> dict[str, str]:
    """An item for MailWizz's API: unsubscribe ``address`` (``reason``: unsubscribe, complaint).

    ``job`` (the campaign) and ``source`` (link, page, mailto, arf...) are for
    the log; ``subscriber_uid``, from a complaint that quoted
    ``X-Mw-Subscriber-Uid``, spares the search when the list is fixed.
    """
    return {
        "address": address,
        "reason": reason,
        "source": source,
        "job": job,
        "subscriber_uid": subscriber_uid,
    }


def webhook_event(fb: Feedback, decision: Decision) -> dict[str, object] | None:
    if decision.event is None:
        return None
    r = fb.report
    return {
        "type": decision.event,
        "tenant": fb.origin.tenant,
        "recipient": fb.recipient,
        "message_id": fb.origin.message_id or r.message_id,
        "job": fb.origin.job or r.x_job,
        "ip": fb.origin.ip,
        "reason": r.reason,
        "class": r.kind,
        "hard": r.hard,
        "status": r.status,
        "diagnostic": r.diagnostic,
        "mailwizz_type": r.mailwizz_type,
        "suppressed": decision.suppress is not None,
        "source": fb.source,
        "at": fb.at,
    }


def sign(secret: str, body: bytes, at: int) -> str:
    """The ``X-Sluice-Signature`` value for ``body`` sent at unix time ``at``."""
    mac = hmac.new(secret.encode(), f"{at}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={at},v1={mac}"


def verify(secret: str, body: bytes, header: str, now: float, tolerance: float = 300) -> bool:
    """What a receiver does: the signature matches and is recent."""
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        at = int(fields.get("t", ""))
    except ValueError:
        return False
    expected = sign(secret, body, at).partition(",v1=")[2]
    return abs(now - at) <= tolerance and hmac.compare_digest(expected, fields.get("v1", ""))


def backoff(attempts: int, rand: random.Random | None = None) -> float:
    """Seconds before the next try: 5 s doubling to an hour, with jitter."""
    base = min(MAX_BACKOFF, 5.0 * 2.0 ** min(attempts, 20))
    draw = rand.random() if rand is not None else random.random()
    return base * (0.5 + draw / 2)


def body(kind: str, payloads: list[str]) -> bytes:
    """One request's body from the queued payloads of one target."""
    items = [json.loads(p) for p in payloads]
    if kind == MAILWIZZ:
        return json.dumps(items, separators=(",", ":")).encode()
    return json.dumps({"events": items}, separators=(",", ":")).encode()
