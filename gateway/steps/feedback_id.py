"""Feedback-ID for Gmail's feedback loop: ``<campaign>:<tenant>:<mail type>:<SenderId>``.

Google aggregates complaint rates on the right-most four colon-separated
fields, the last being the SenderId (5 to 15 characters, the same on every
message); identifiers must not be per recipient. MailWizz's default,
``campaign:subscriber:list:customer``, puts the subscriber in the second
field, so every message is its own bucket and the loop reports nothing.

Policy per tenant (``feedback_id.headers``): ``replace`` always writes
ours; ``add`` writes ours when the sender sent none, more than one, or one
that is not usable: more than four fields, a SenderId outside 5 to 15
letters, digits, ``.``, ``_`` or ``-``, or a field that names the recipient
(its address, its local part, or the value of ``X-Mw-Subscriber-Uid``).
An empty campaign is left out rather than sent as an empty field; the
fields keep their places counted from the right.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from gateway.replies import Verdict

if TYPE_CHECKING:
    from gateway.message import Message
    from gateway.pipeline import Transaction

_NOT_FIELD = re.compile(r"[^A-Za-z0-9._-]")
_SENDER_ID = re.compile(r"[A-Za-z0-9._-]{5,15}")
_MAX_CAMPAIGN = 64


def value(job: str, tenant: str, mail_type: str, sender_id: str) -> str:
    """Our Feedback-ID for a campaign of a tenant."""
    campaign = _NOT_FIELD.sub("", job)[:_MAX_CAMPAIGN]
    return ":".join(f for f in (campaign, tenant, mail_type, sender_id) if f)


def usable(found: str, message: Message, recipients: list[str]) -> bool:
    """Whether a sender's Feedback-ID follows Google's rules and names no recipient."""
    fields = [f.strip() for f in found.split(":")]
    if not 1 <= len(fields) <= 4 or not _SENDER_ID.fullmatch(fields[-1]):
        return False
    personal = {r.lower() for r in recipients} | {r.partition("@")[0].lower() for r in recipients}
    subscriber = message.get("x-mw-subscriber-uid")
    if subscriber:
        personal.add(subscriber.lower())
    return not any(f.lower() in personal or "@" in f for f in fields)


async def feedback_id(tx: Transaction) -> Verdict | None:
    """Write Feedback-ID as <campaign>:<tenant>:<type>:<SenderId>, replacing per-recipient ones."""
    assert tx.message is not None and tx.session.tenant is not None
    tenant = tx.session.tenant.settings
    config = tenant.feedback_id
    if config is None:
        return None
    found = tx.message.get_all("feedback-id")
    if config.headers == "add" and len(found) == 1 and usable(found[0], tx.message, tx.recipients):
        return None
    tx.message.remove("Feedback-ID")
    tx.message.append("Feedback-ID", value(tx.job, tenant.name, config.mail_type, config.sender_id))
    return None
