"""One scenario email as RFC 5322 bytes: From, Reply-To, To, Subject, Message-ID, Date,
multipart/alternative (text, then HTML), each part UTF-8 in quoted-printable.

Written line by line with the stdlib's encoders rather than through EmailMessage,
whose header parsing cost milliseconds per message, more than the rest of a send.
"""

from __future__ import annotations

import binascii
import functools
import itertools
import re
from email.charset import QP, Charset
from email.header import Header
from email.utils import formataddr, formatdate, parseaddr

from conf import TenantSettings
from policy import links, tokens
from policy.replies import token as reply_token
from policy.scenarios.definition import Scenario
from scheduler.scenarios.catalog import Content

_UTF8 = Charset("utf-8")
_UTF8.body_encoding = QP
# A bare ASCII address with no character a header would need to quote: written as it is.
_PLAIN = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9.-]+")


def unsubscribe_url(tenant: TenantSettings, job: str, message_id: str, recipient: str) -> str:
    """The one-click link for the body, the same token List-Unsubscribe carries."""
    if tenant.tracking is None:
        return ""
    keys = links.keys_for(tenant.tracking.secrets)
    ref = links.message_ref(job, f"<{message_id}>")
    token = tokens.issue(keys, "unsubscribe", tenant.name, ref, recipient)
    return f"{tenant.tracking.base_url.rstrip('/')}/t/u/{token}"


def reply_to(tenant: TenantSettings, enabled: bool, d: Scenario, message_id: str) -> str | None:
    """The Reply-To: the tenant's reply address for this message when it has a reply domain.

    The scenario's own ``reply_to`` then keeps only its display name (or the From's):
    replies must reach the reply address to be read, matched and classified.
    """
    if not enabled or tenant.reply_domain is None or tenant.tracking is None:
        return d.reply_to
    address = reply_token.address(
        tenant.tracking.secrets, tenant.name, message_id, tenant.reply_domain.lower()
    )
    name = parseaddr(d.reply_to or "")[0] or parseaddr(d.from_)[0]
    # Quoted, not encoded: build() encodes the name once, as it does for From.
    quoted = name.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{quoted}" <{address}>' if name else address


def build(
    *,
    sender: str,
    reply_to: str | None,
    recipient: str,
    message_id: str,
    content: Content,
    at: float,
) -> bytes:
    head = [
        f"From: {_address(sender)}",
        *([f"Reply-To: {_address(reply_to)}"] if reply_to else []),
        f"To: {_address(recipient)}",
        f"Subject: {_text('Subject', content.subject)}",
        f"Message-ID: <{message_id}>",
        f"Date: {_date(int(at))}",
        "MIME-Version: 1.0",
    ]
    text = _part("plain", content.text or " ")
    if not content.html:
        return _join(head + text)
    # Quoted-printable never writes "=_", so this boundary cannot occur in a part.
    boundary = f"=_{message_id.partition('@')[0][:24]}"
    lines = [*head, f'Content-Type: multipart/alternative; boundary="{boundary}"', ""]
    for part in (text, _part("html", content.html)):
        lines += [f"--{boundary}", *part]
    return _join([*lines, f"--{boundary}--", ""])


def _part(subtype: str, body: str) -> list[str]:
    return [
        f"Content-Type: text/{subtype}; charset=utf-8",
        "Content-Transfer-Encoding: quoted-printable",
        "",
        *_quoted_printable(body),
    ]


def _quoted_printable(body: str) -> list[str]:
    """The body's lines in quoted-printable; any line break (CRLF, LF, a bare CR) is one."""
    text = body.replace("\r\n", "\n").replace("\r", "\n")
    # binascii's encoder is C, a fifth of the email package's pure-Python one per part;
    # it can write a line one past RFC 2045's 76 where it encodes a trailing blank, and
    # such a body (rare) takes the email package's instead.
    lines = binascii.b2a_qp(text.encode("utf-8"), istext=True).decode("ascii").split("\n")
    if max(map(len, lines)) <= 76:
        return lines
    return str(_UTF8.body_encode(text)).split("\n")


def _text(name: str, value: str) -> str:
    """A header's text, folded, its non-ASCII words RFC 2047-encoded (the ASCII ones stay
    readable); never a line break of the value's own."""
    value = " ".join(value.split())
    if value.isascii() and len(value) < 900:
        return value
    header = Header(header_name=name)
    for ascii_, words in itertools.groupby(value.split(), key=str.isascii):
        header.append(" ".join(words), "us-ascii" if ascii_ else "utf-8")
    return header.encode(linesep="\r\n")


def _address(value: str) -> str:
    if _PLAIN.fullmatch(value):  # a contact's address: the common case, once per send
        return value
    return _named_address(value)


@functools.lru_cache(maxsize=1024)  # a scenario's From and Reply-To, at every send
def _named_address(value: str) -> str:
    name, addr = parseaddr(" ".join(value.split()))
    return formataddr((name, addr), charset="utf-8")


@functools.lru_cache(maxsize=4)  # a batch's sends share their second
def _date(second: int) -> str:
    return formatdate(second, usegmt=True)


def _join(lines: list[str]) -> bytes:
    return "\r\n".join(lines).encode("ascii")
