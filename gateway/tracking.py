"""Click and open tracking: rewrite a message's links and add an open pixel.

``rewrite(message, plan)`` returns the new message, or ``None`` when nothing
changed so the caller relays the original bytes. It knows nothing of keys or
tenants: the caller supplies ``plan.make_token``.

Only the bodies of text/html leaf parts (and text/plain ones, with
``rewrite_text``) change. The MIME tree is walked on the raw bytes
(``gateway.mime_leaves``), using the boundaries from each Content-Type, and
changed bodies are spliced back, so headers, boundaries, other parts, preamble
and epilogue stay byte-identical;
serialising through the email package would reflow headers and cost more than
the whole rewrite. A changed body is decoded with its transfer encoding and
charset and re-encoded with the same ones (quoted-printable and base64 lines
of at most 76 characters). A part is left alone when its charset is unknown,
when its untouched text would not re-encode to the same bytes, or when a
7bit/8bit line would exceed SMTP's 998 octets. Signed, encrypted and attached
content and message/rfc822 parts are never touched.

HTML is rewritten with regular expressions on the ``href`` of ``a``, ``area``
and Outlook's VML button shapes (``v:roundrect``, ``v:rect``, ``v:oval``,
``v:shape``: the link Outlook users click). Nothing is re-serialised, so
unclosed tags, unquoted attributes and ``<!--[if mso]>`` blocks come out as
they went in.

Links never rewritten: anything but absolute http(s) (mailto:, tel:,
``#anchors``, placeholders); links under ``base_url``; URLs matching an
exclude pattern; hrefs with raw white space or angle brackets (an unclosed
quote that swallowed markup); and the sender's unsubscribe links. A link is an
unsubscribe link when its URL is in the List-Unsubscribe header, when the URL
contains "unsub" or "opt-out" ("optout", "opt_out"), or when its text (for
plain text: the text before it on its line) matches ``_UNSUB_TEXT``
("unsubscribe", "opt out" and their German, French, Spanish, Italian, Dutch,
Portuguese and Japanese equivalents). Those stay direct so that unsubscribing
never depends on the tracking endpoint, and scanners that follow every link
do not count as clicks on them.

Exclude patterns are fnmatch-style, case-insensitive, and match the whole URL
or the URL without its scheme: "*.acme.com/account/*", "https://acme.com/*".
"""

from __future__ import annotations

import fnmatch
import html
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from gateway.mime_leaves import Leaf, collect, decode, encode, headers_at

MakeToken = Callable[[str, int, str | None], str]

_TOKEN_OK = re.compile(r"[A-Za-z0-9_-]+")
_BASE_OK = re.compile(r"https?://[A-Za-z0-9.:\[\]/_~%-]+", re.I)


@dataclass(frozen=True, kw_only=True)
class TrackingPlan:
    """What to track in one message, and how to name it."""

    base_url: str
    make_token: MakeToken = field(repr=False)
    opens: bool = True
    clicks: bool = True
    exclude: tuple[str, ...] = ()
    skip_if_tracked: bool = True
    rewrite_text: bool = False
    _exclude_re: re.Pattern[str] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        base = self.base_url.rstrip("/")
        # The base goes into HTML attributes unescaped, so it must need no escaping.
        if not _BASE_OK.fullmatch(base):
            raise ValueError(f"tracking base_url must be a plain http(s) URL: {self.base_url!r}")
        object.__setattr__(self, "base_url", base)
        patterns = tuple(self.exclude)
        object.__setattr__(self, "exclude", patterns)
        joined = "|".join(fnmatch.translate(p.lower()) for p in patterns)
        object.__setattr__(self, "_exclude_re", re.compile(joined) if patterns else None)


def rewrite(message: bytes, plan: TrackingPlan) -> bytes | None:
    """The message with tracked links and an open pixel, or None if nothing changed.

    Whatever ``plan.make_token`` raises propagates: the caller decides whether an
    untracked message may go out.
    """
    if not (plan.opens or plan.clicks):
        return None
    newline = message.find(b"\n")
    eol = b"\r\n" if newline > 0 and message[newline - 1] == 0x0D else b"\n"
    want_plain = plan.rewrite_text and plan.clicks
    leaves: list[Leaf] = []
    top = headers_at(message, 0, len(message), eol)
    if top is None:
        return None
    collect(message, top, eol, want_plain, leaves)
    decoded = [(leaf, text) for leaf in leaves if (text := decode(message, leaf)) is not None]
    if not decoded:
        return None
    if plan.skip_if_tracked and any(_MAILWIZZ_TRACKED.search(text) for _, text in decoded):
        return None

    ctx = _Context(plan, _list_unsubscribe_urls(top.headers))
    edits: list[tuple[int, int, bytes]] = []
    for leaf, text in decoded:
        if leaf.subtype == "html":
            new_text = _rewrite_html(text, ctx)
        else:
            new_text = _rewrite_plain(text, ctx)
        if new_text is None:
            continue
        body = encode(message, leaf, new_text, eol, plan.base_url)
        if body is not None:
            edits.append((leaf.start, leaf.end, body))
    if not edits:
        return None
    out: list[bytes] = []
    last = 0
    for start, end, body in edits:
        out += (message[last:start], body)
        last = end
    out.append(message[last:])
    return b"".join(out)


# --- links --------------------------------------------------------------------

# The attributes before href are consumed one character or one whole quoted value at a
# time, so "href=" inside another attribute's value (title="see href=...") never matches.
_LINK = re.compile(
    r"""<(a|area|v:roundrect|v:rect|v:oval|v:shape)\b(?:[^>"']|"[^"]*"|'[^']*')*?\s"""
    r"""href\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""",
    re.I,
)
_CLOSE_A = re.compile(r"</a\s*>", re.I)
_BODY_CLOSE = re.compile(r"</body\s*>", re.I)
_CHAR_REF = re.compile(r"&(?:#[0-9]+|#[xX][0-9a-fA-F]+|[A-Za-z][A-Za-z0-9]*);")
_TEXT_URL = re.compile(r"""https?://[^\s<>"'`{}|\\^\[\]]+""", re.I)
_MAILWIZZ_TRACKED = re.compile(r"""/campaigns/[^/\s"'<>]+/track-(?:url|opening)""", re.I)
_OPT_OUT = re.compile(r"opt[-_]?out")
# Matched against lower-cased text: faster than re.I.
_UNSUB_TEXT = re.compile(
    r"unsubscribe|opt[\s_-]*out|abmelden|abbestellen|d[ée]sabonner|d[ée]sinscri"
    r"|darse\s+de\s+baja|cancelar\s+(?:la\s+)?suscripci|disiscriviti|afmelden|descadastr"
    r"|配信停止|配信解除|購読解除|登録解除"
)
_PIXEL = '<img src="{}" width="1" height="1" alt="" style="display:block;border:0">'


class _Context:
    """Per-message state: the plan, the link counter, the open token."""

    def __init__(self, plan: TrackingPlan, unsubscribe_urls: frozenset[str]) -> None:
        self.plan = plan
        self.unsubscribe_urls = unsubscribe_urls
        self.base_lower = plan.base_url.lower()
        self.next_index = 0
        self._pixel: str | None = None

    def pixel(self) -> str:
        if self._pixel is None:
            token = _checked(self.plan.make_token("open", 0, None))
            self._pixel = _PIXEL.format(f"{self.plan.base_url}/t/o/{token}.gif")
        return self._pixel

    def tracked(self, url: str) -> str:
        token = _checked(self.plan.make_token("click", self.next_index, url))
        self.next_index += 1
        return f"{self.plan.base_url}/t/c/{token}"

    def skipped(self, url: str) -> bool:
        lower = url.lower()
        if not lower.startswith(("http://", "https://")) or _swallowed_markup(url):
            return True
        if lower.startswith(self.base_lower) and lower[len(self.base_lower) :][:1] in ("/", ""):
            return True
        pattern = self.plan._exclude_re
        if pattern and (pattern.match(lower) or pattern.match(lower.split("://", 1)[1])):
            return True
        if "unsub" in lower or ("opt" in lower and _OPT_OUT.search(lower)):
            return True
        return url in self.unsubscribe_urls


def _swallowed_markup(url: str) -> bool:
    # Cheaper than a regex, and this runs for every link.
    return len(url.split(maxsplit=1)) != 1 or "<" in url or ">" in url


def _checked(token: str) -> str:
    # The token lands unescaped in an attribute and a path segment.
    if not _TOKEN_OK.fullmatch(token):
        raise ValueError("make_token must return a URL-safe token")
    return token


def _list_unsubscribe_urls(headers: dict[str, str]) -> frozenset[str]:
    value = headers.get("list-unsubscribe", "")
    return frozenset(u.strip() for u in re.findall(r"<\s*(https?://[^>]+)>", value, re.I))


def _says_unsubscribe(text: str) -> bool:
    return _UNSUB_TEXT.search(_unescape_attr(text).lower()) is not None


def _rewrite_html(text: str, ctx: _Context) -> str | None:
    pieces: list[str] = []
    last = 0
    if ctx.plan.clicks:
        for m in _LINK.finditer(text):
            group = m.lastindex or 0
            url = _unescape_attr(m.group(group).strip())
            if ctx.skipped(url) or (m.group(1) in ("a", "A") and _unsubscribe_text(text, m.end())):
                continue
            pieces += (text[last : m.start(group)], ctx.tracked(url))
            last = m.end(group)
    pixel_at = None
    if ctx.plan.opens and f"{ctx.plan.base_url}/t/o/" not in text:
        pixel_at = _pixel_position(text, last)
    if not pieces and pixel_at is None:
        return None
    if pixel_at is not None:
        pieces += (text[last:pixel_at], ctx.pixel())
        last = pixel_at
    pieces.append(text[last:])
    return "".join(pieces)


def _pixel_position(text: str, start: int) -> int:
    """Right before the last </body> (after every rewritten tag), else at the very end."""
    at = max(text.rfind("</body"), text.rfind("</BODY"), text.rfind("</Body"))
    if at < 0:  # odd casing: the slow way
        for m in _BODY_CLOSE.finditer(text, start):
            at = m.start()
    return at if at >= start else len(text.rstrip())


def _unsubscribe_text(text: str, href_end: int) -> bool:
    """Whether the content of the link whose href ends at href_end reads as unsubscribe."""
    # The first ">" after the href: a ">" in a later attribute only widens the window.
    start = text.find(">", href_end) + 1
    if start == 0:
        return False
    close = _CLOSE_A.search(text, start, start + 2000)
    return close is not None and _says_unsubscribe(text[start : close.start()])


def _unescape_attr(value: str) -> str:
    # Only terminated references: browsers leave "&copy=1" in an attribute alone,
    # whereas html.unescape would turn it into "©=1" and corrupt the URL.
    if "&" not in value:
        return value
    if value.count("&") == value.count("&amp;"):
        return value.replace("&amp;", "&")  # the usual case, without a call per reference
    return _CHAR_REF.sub(lambda m: html.unescape(m.group(0)), value)


def _rewrite_plain(text: str, ctx: _Context) -> str | None:
    pieces: list[str] = []
    last = 0
    for m in _TEXT_URL.finditer(text):
        url = m.group(0).rstrip(".,;:!?'\"")
        if url.endswith(")") and "(" not in url:
            url = url[:-1]
        line_start = text.rfind("\n", 0, m.start()) + 1
        if ctx.skipped(url) or _says_unsubscribe(text[max(line_start, m.start() - 80) : m.start()]):
            continue
        pieces += (text[last : m.start()], ctx.tracked(url))
        last = m.start() + len(url)
    if not pieces:
        return None
    pieces.append(text[last:])
    return "".join(pieces)
