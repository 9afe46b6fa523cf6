"""One scenario email as RFC 5322 bytes: From, Reply-To, To, Subject, Message-ID, Date,
multipart/alternative (text, then HTML) with the stdlib email package."""

from __future__ import annotations

from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate

from conf import TenantSettings
from policy import links, tokens
from scheduler.scenarios.catalog import Content


def unsubscribe_url(tenant: TenantSettings, job: str, message_id: str, recipient: str) -> str:
    """The one-click link for the body, the same token List-Unsubscribe carries."""
    if tenant.tracking is None:
        return ""
    keys = links.keys_for(tenant.tracking.secrets)
    ref = links.message_ref(job, f"<{message_id}>")
    token = tokens.issue(keys, "unsubscribe", tenant.name, ref, recipient)
    return f"{tenant.tracking.base_url.rstrip('/')}/t/u/{token}"


def build(
    *,
    sender: str,
    reply_to: str | None,
    recipient: str,
    message_id: str,
    content: Content,
    at: float,
) -> bytes:
    msg = EmailMessage(policy=SMTP)
    msg["From"] = sender
    if reply_to:
        msg["Reply-To"] = reply_to
    msg["To"] = recipient
    msg["Subject"] = content.subject
    msg["Message-ID"] = f"<{message_id}>"
    msg["Date"] = formatdate(at, usegmt=True)
    msg.set_content(content.text or " ")
    if content.html:
        msg.add_alternative(content.html, subtype="html")
    return msg.as_bytes()
