"""Recipients and diagnostics from human-readable bounce text.

Most MTAs that do not send RFC 3464 reports still follow a common shape: a
preamble, one block per failed recipient (the address, then the remote
server's answer or the local error), then a copy of the returned message.
This module cuts the returned message off, finds the recipient addresses in
what remains and gives each the text that belongs to it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .dsn import address_in
from .mime import Headers, Part, parse_headers, split_head_body

ADDR_RE = re.compile(
    r"(?<![\w.+=-])([A-Za-z0-9!#$%&'*+/=?^_`{|}~-][A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{0,63}"
    # A domain literal keeps both brackets; a bracket that only closes
    # belongs to the text around the address ("T=[a@b]").
    r"@(?:\[[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+\]|[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+))"
)

# Where the copy of the original message starts in text bounces.
ORIGINAL_RE = re.compile(
    r"^[ \t>]*(?:[-=*_#]{2,}[ \t]*)?(?:"
    r"this is a copy of (?:the |your )?(?:message|body)|below this line is a copy|"
    r"enclosed (?:is|are) (?:a copy of )?the (?:original )?message|"
    r"(?:unsent|undelivered|returned|rejected|bounced|failed|original) (?:message|mail|e-?mail)"
    r"(?: headers?)? (?:follows?|is (?:attached|below|included))|"
    r"message headers? follows?|header of the original message|headers? of (?:the )?"
    r"(?:original|returned|your) message|enclosed are the original headers|"
    r"start of (?:returned|original) message|copy of (?:the )?(?:original|your) message|"
    r"returned mail follows|the original message headers|"
    r"(?:-+ ?)?(?:original|returned|undelivered) (?:message|mail|e-?mail)"
    r"(?: headers?)?[ \t:.]*(?:[-=*_#]{2,})?[ \t]*$"
    # "Undeliverable mail" alone is a notice's title, not a marker.
    r"|-+ ?undeliverable (?:message|mail|e-?mail)[ \t:.]*(?:[-=*_#]{2,})?[ \t]*$)",
    re.IGNORECASE | re.MULTILINE,
)
_HEADER_RUN_RE = re.compile(
    r"^(?:Return-Path|Received|Message-I[dD]|Date|From|To|Subject|MIME-Version|"
    r"Content-Type|X-[A-Za-z-]+|DKIM-Signature|Reply-To):[^\n]*\n"
    r"(?:[ \t][^\n]*\n)*"
    r"(?:(?:Return-Path|Received|Message-I[dD]|Date|From|To|Subject|MIME-Version|Content-Type"
    r"|X-[A-Za-z-]+|DKIM-Signature|Reply-To|Cc|In-Reply-To|References):[^\n]*\n"
    r"(?:[ \t][^\n]*\n)*){2,}",
    re.MULTILINE,
)
# Lines that name the sender or the relay, not a failed recipient.
_SENDER_LINE_RE = re.compile(
    r"mail from|envelope[- ]from|envelope sender|^[ \t>*-]*(?:from|sender|reply-to|return-path"
    r"|x-sender|x-original-sender|message-id|in-reply-to|references|cc)[ \t]*:|\(envelope"
    r"|\bhelo\b|contact|questions|assistance|help ?desk"
    r"|send (?:an? )?(?:e-?mail|mail|message) to|forward (?:this|the)|お問い合わせ|ご連絡",
    re.IGNORECASE | re.MULTILINE,
)
# Lines that state a failed recipient in the wording of common MTAs: qmail's
# "<a@b>:", Sendmail's "<a@b>... reason", Exim's indented address, SMTP
# transcripts and "Recipient address:" style listings.
_STRONG_RE = re.compile(
    r"^<([^<>\s]+@[^<>\s]+)>:?[ \t]*$|<([^<>\s]+@[^<>\s]+)>\.\.\.[ \t]"
    r"|^[ \t]{2,}<?([^<>\s:]+@[^<>\s:]+?)>?:?[ \t]*$"
    r"|rcpt to:[ \t]*<?([^<>\s]+@[^<>\s]+?)>?(?:[ \t:]|$)"
    r"|(?:failed |final |original )?recipient(?: address)?:[ \t]*<?([^<>\s]+@[^<>\s]+?)>?[ \t]*$",
    re.IGNORECASE | re.MULTILINE,
)
# The bounce's own text (and its DSN part) is short; anything beyond this is
# a returned message or junk and is not scanned.
MAX_HUMAN = 128 * 1024
_TAG_RE = re.compile(r"<[^>]{0,2000}>")
_ENTITY_RE = re.compile(r"&(?:nbsp|amp|lt|gt|quot|#\d+);")
_WINDOW = 1200
# Bounce text naming more addresses than this is not worth reading further.
_MAX_OCCURRENCES = 2000


@dataclass
class TextRecord:
    recipient: str
    diagnostic: str


def cut_original(text: str) -> str:
    """The bounce's own text, without the returned copy of the message."""
    m = ORIGINAL_RE.search(text)
    end = m.start() if m else len(text)
    h = _HEADER_RUN_RE.search(text, 0, end)
    if h and h.start() > 0:
        end = min(end, h.start())
    return text[:end]


def addresses(text: str) -> list[tuple[str, int]]:
    """``(address, offset)`` for every address in ``text``, lowercased."""
    out: list[tuple[str, int]] = []
    for m in ADDR_RE.finditer(text):
        if len(out) >= _MAX_OCCURRENCES:
            break
        addr = m.group(1).strip(".").lower()
        if addr.startswith("mailto:"):
            addr = addr[7:]
        if addr.count("@") != 1 or addr.endswith("."):
            continue
        out.append((addr, m.start(1)))
    return out


def _line_at(text: str, pos: int) -> str:
    start = text.rfind("\n", 0, pos) + 1
    end = text.find("\n", pos)
    return text[start : end if end >= 0 else len(text)]


def _named_on_sender_lines(text: str) -> set[str]:
    """Addresses that directly follow a sender or "contact us" marker."""
    out = set()
    for m in _SENDER_LINE_RE.finditer(text):
        end = text.find("\n", m.end())
        line_rest = text[m.end() : end if end >= 0 else len(text)]
        a = ADDR_RE.search(line_rest)
        if a:
            out.add(a.group(1).strip(".").lower())
    return out


def _mentioned(text: str, found: list[tuple[str, int]], exclude: set[str]) -> list[tuple[str, int]]:
    """The occurrences of the addresses the text itself names as recipients."""
    # An address named on a sender or "contact us" line is never a
    # recipient, wherever else it appears.
    not_rcpt = _named_on_sender_lines(text)
    strong = set()
    for m in _STRONG_RE.finditer(text):
        a = next(g for g in m.groups() if g).strip(".").lower()
        if a not in not_rcpt:
            strong.add(a)
    occ = [(a, p) for a, p in found if a not in exclude and a not in not_rcpt]
    if not occ:
        # A known sender address counts only when the text names it in
        # a recipient's place and names no one else: a remote server
        # that refuses the sender quotes it in the same shapes.
        occ = [(a, p) for a, p in found if a in strong]
    return occ


def recipients_in(
    text: str, exclude: set[str], preferred: list[str] | None = None, strict: bool = False
) -> list[TextRecord]:
    """Failed recipients in bounce text, each with its own slice of text.

    ``exclude`` lists addresses known not to be recipients (the bounce's
    sender and addressee, the original sender).  ``preferred`` are addresses
    the bounce states elsewhere (``X-Failed-Recipients``, DSN fields); when
    the text mentions them only they are reported, and with ``strict`` they
    are reported even when it does not.
    """
    found = addresses(text)
    wanted = [a for a in preferred or () if a]
    if wanted:
        occ = [(a, p) for a, p in found if a in wanted]
        order = list(dict.fromkeys(wanted))
    if not wanted or (not occ and not strict):
        # Stated recipients that the text never mentions: trust the text.
        occ = _mentioned(text, found, exclude)
        order = list(dict.fromkeys(a for a, _ in occ))
    if not order:
        return []
    occ.sort(key=lambda x: x[1])
    # For each occurrence, where the next mention of a different address
    # starts: a recipient's text runs up to there.
    next_other = [len(text)] * len(occ)
    for i in range(len(occ) - 2, -1, -1):
        a_next, p_next = occ[i + 1]
        next_other[i] = p_next if a_next != occ[i][0] else next_other[i + 1]
    pieces: dict[str, list[str]] = {a: [] for a in order}
    covered: dict[str, int] = {}
    size: dict[str, int] = dict.fromkeys(order, 0)
    for i, (a, p) in enumerate(occ):
        if p < covered.get(a, -1) or size[a] > _WINDOW * 3:
            continue
        end = min(next_other[i], p + _WINDOW)
        covered[a] = end
        # Start at the line so "User unknown: <addr>" keeps its explanation.
        start = text.rfind("\n", max(0, p - 300), p) + 1
        if i:
            start = max(start, occ[i - 1][1] + len(occ[i - 1][0]))
        pieces[a].append(text[start:end])
        size[a] += end - start
    out = []
    for a in order:
        diag = "\n".join(pieces[a])
        out.append(TextRecord(a, diag))
    return out


def failed_recipients_header(value: str) -> list[str]:
    return [a for a in (address_in(v) for v in value.split(",")) if a]


def _strip_html(body: str) -> str:
    body = _TAG_RE.sub(" ", body)
    return _ENTITY_RE.sub(" ", body)


def human_text(root: Part) -> str:
    """The bounce's own readable text: text parts outside the returned message."""
    if not root.ctype.startswith("multipart/") or not root.children:
        if root.ctype.startswith(("text/", "multipart/")) or not root.ctype:
            body = root.body[:MAX_HUMAN]
            return _strip_html(body) if root.ctype == "text/html" else body
        return ""
    chunks: list[str] = []
    stack = list(reversed(root.children))
    while stack:
        p = stack.pop()
        if p.ctype.startswith("multipart/"):
            stack.extend(reversed(p.children))
        elif p.ctype in ("text/plain", "text/enriched") or p.ctype.startswith("text/x-"):
            chunks.append(p.body[:MAX_HUMAN])
        elif p.ctype == "text/html" and not chunks:
            chunks.append(_strip_html(p.body[:MAX_HUMAN]))
    return "\n".join(chunks)[:MAX_HUMAN]


def original_headers(root: Part, text: str) -> Headers | None:
    for p in root.walk():
        if p.ctype == "x-original/headers" and len(p.headers):
            return p.headers
    m = ORIGINAL_RE.search(text)
    if not m:
        return None
    nl = text.find("\n", m.end())
    if nl < 0:
        return None
    rest = text[nl + 1 : nl + 1 + 65536].lstrip("\n ")
    head, _ = split_head_body(rest)
    if not head:
        return None
    h = parse_headers(head)
    return h if len(h) else None
