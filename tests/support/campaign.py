"""A MailWizz-like campaign message, a tracking configuration, and reading what the sink got."""

from __future__ import annotations

import binascii
import email
import email.policy
import email.utils
import re
from email.message import EmailMessage
from pathlib import Path

from tests.support.harness import config_text

SECRET = "e2e-tracking-secret-0123456789"
CAMPAIGN = "camp-7"
LINKS = (
    "https://shop.example.com/spring?utm_source=mail&utm_medium=email",
    "https://shop.example.com/p/42",
    "http://blog.example.org/post/7#top",
)
EXCLUDED = "https://www.acme-mail.com/account/settings"
SENDER_UNSUBSCRIBE = "https://mw.acme-mail.com/lists/l1/unsubscribe/sub123/camp-7"
# MailWizz's default Feedback-ID: campaign, subscriber, list, customer.
MAILWIZZ_FEEDBACK_ID = f"{CAMPAIGN}:sub123:list9:cust4242"


def tracking_config(
    folder: Path, sink_port: int, base: str, *, headers: str = "replace", feedback: str = "add"
) -> str:
    """The harness configuration with tracking, unsubscribe and Feedback-ID for tenant acme."""
    text = config_text(folder, sink_port)
    block = (
        "    bounce_domain: bounce.acme-mail.com\n"
        f'    tracking: {{base_url: "{base}", secrets: ["{SECRET}"],\n'
        '               exclude: ["*.acme-mail.com/account/*"]}\n'
        f"    unsubscribe: {{headers: {headers}}}\n"
        f"    feedback_id: {{sender_id: acmemail, headers: {feedback}}}\n"
    )
    marker = "    sender_domains: [acme-mail.com]\n"
    assert marker in text
    return text.replace(marker, marker + block, 1)


def campaign(
    to: str, *, feedback_id: str = MAILWIZZ_FEEDBACK_ID, unsubscribe: bool = True
) -> bytes:
    """multipart/alternative, quoted-printable HTML with three links, as MailWizz sends it."""
    anchors = "".join(f'<p><a href="{url}">Offer {i}</a></p>\n' for i, url in enumerate(LINKS))
    html = (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8"></head>\n<body>\n'
        "<p>Hello, here is what is new this spring: caf\u00e9, cr\u00e8me.</p>\n"
        f"{anchors}"
        f'<p><a href="{EXCLUDED}">Your account</a> \u00b7 '
        f'<a href="{SENDER_UNSUBSCRIBE}">Unsubscribe</a> \u00b7 '
        '<a href="mailto:help@acme-mail.com">Help</a></p>\n</body>\n</html>\n'
    )
    qp = binascii.b2a_qp(html.encode().replace(b"\n", b"\r\n"), istext=True)
    headers = [
        "From: Acme News <news@acme-mail.com>",
        f"To: <{to}>",
        "Subject: Spring",
        f"Date: {email.utils.formatdate()}",
        "MIME-Version: 1.0",
        f"X-Mw-Campaign-Uid: {CAMPAIGN}",
        "X-Mw-Subscriber-Uid: sub123",
    ]
    if feedback_id:
        headers.append(f"Feedback-ID: {feedback_id}")
    if unsubscribe:
        headers += [
            f"List-Unsubscribe: <{SENDER_UNSUBSCRIBE}>",
            "List-Unsubscribe-Post: List-Unsubscribe=One-Click",
        ]
    headers.append('Content-Type: multipart/alternative; boundary="b1"')
    body = (
        b"--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        b"Hello, see https://shop.example.com/p/42\r\n"
        b"--b1\r\nContent-Type: text/html; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: quoted-printable\r\n\r\n" + qp + b"\r\n--b1--\r\n"
    )
    return "\r\n".join(headers).encode() + b"\r\n\r\n" + body


def parsed(raw: bytes) -> EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)  # type: ignore[return-value]


def html_of(raw: bytes) -> str:
    part = parsed(raw).get_body(("html",))
    assert part is not None
    return part.get_content()


def html_parts(raw: bytes) -> str:
    """Every text/html part of a message, decoded and joined."""
    parts = [p for p in parsed(raw).walk() if p.get_content_type() == "text/html"]
    return "\n".join(p.get_content() for p in parts if not p.is_attachment())


def tracked_links(raw: bytes, base: str) -> list[str]:
    return re.findall(re.escape(base) + r"/t/c/[A-Za-z0-9_-]+", html_parts(raw))


def pixel(raw: bytes, base: str) -> str:
    (found,) = re.findall(re.escape(base) + r"/t/o/[A-Za-z0-9_-]+\.gif", html_of(raw))
    return found


def header_fields(raw: bytes, name: str) -> list[bytes]:
    """The raw fields (with folding, without the final CRLF) of one header name."""
    head = raw.split(b"\r\n\r\n", 1)[0]
    pattern = rb"^" + re.escape(name.encode()) + rb":[^\r\n]*(?:\r\n[ \t][^\r\n]*)*"
    return re.findall(pattern, head, re.I | re.M)


def list_unsubscribe(raw: bytes) -> tuple[str, str]:
    """The https and the mailto URI of the (single) List-Unsubscribe header."""
    (field,) = header_fields(raw, "List-Unsubscribe")
    uris = re.findall(r"<([^>]+)>", field.decode())
    https = next(u for u in uris if u.startswith("http"))
    mailto = next((u for u in uris if u.startswith("mailto:")), "")
    return https, mailto
