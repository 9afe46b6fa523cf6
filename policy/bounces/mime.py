"""Lightweight, bounded MIME reading for the bounce parser.

The stdlib ``email`` package builds a full object tree and decodes every
part, which is slow on large returned messages and raises or loops on some
malformed input.  Bounce parsing only needs the outer headers, the structure
of the report and the headers of the returned message, so this module does a
small tolerant split of its own: newline-normalised text in, a tree of
:class:`Part` out, with hard limits on size, depth and part count.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.header import decode_header

# A bounce's useful content is near the top; the returned message can be
# arbitrarily large.  Scanning is capped so a 50 MB input costs the same as
# a 2 MB one.
MAX_SCAN_BYTES = 2 * 1024 * 1024
MAX_DEPTH = 6
MAX_PARTS = 64
# Headers of the returned message are read from at most this much text.
MAX_HEADER_BLOCK = 64 * 1024

_PARAM_RE = re.compile(r';\s*([A-Za-z0-9_.*-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;\s]*)')
_HEADER_NAME_RE = re.compile(r"^[!-9;-~]+$")
_DELIMITER_RE = re.compile(r"^--([0-9A-Za-z'()+_,./:=?-]{1,70})[ \t]*$", re.MULTILINE)
_ASCII_COMPAT = frozenset({"utf-8", "utf8", "us-ascii", "ascii", ""})


# CRs in front of an LF belong to that one line break: "\r\r\n" is what a
# CRLF message becomes after a second LF-to-CRLF conversion.
_CRS_LF_RE = re.compile(rb"\r+\n")
_CRS_LF_TEXT_RE = re.compile(r"\r+\n")


def to_lf(data: bytes) -> bytes:
    """One newline form, LF, whatever the input used: CRLF, CR alone, LF, a
    mix of them, or CRLF converted twice.  Done on bytes before decoding so
    every later stage (header folding, blank-line part separators, MIME
    boundaries, line-anchored patterns) sees the same text for all forms."""
    if b"\r" not in data:
        return data
    if b"\r\r" in data:
        data = _CRS_LF_RE.sub(b"\n", data)
    return data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")


def _lf_text(text: str) -> str:
    """:func:`to_lf` for text: a decoded part (base64 and quoted-printable
    carry their own line breaks, and a UTF-16 part only shows its newlines
    once decoded) or a message handed over as ``str``."""
    if "\r" not in text:
        return text
    if "\r\r" in text:
        text = _CRS_LF_TEXT_RE.sub("\n", text)
    return text.replace("\r\n", "\n").replace("\r", "\n")


def normalise(raw: bytes | str) -> str:
    """Decode at most :data:`MAX_SCAN_BYTES` with every newline made LF.

    Undecodable bytes are kept as surrogate escapes so a part declaring a
    legacy charset can be re-decoded losslessly later.  Only ASCII CR and LF
    bytes are rewritten: in UTF-8 and the legacy charsets of mail they never
    occur inside a multi-byte character, and encoded (base64,
    quoted-printable) parts ignore or re-encode line breaks anyway.
    """
    if isinstance(raw, str):
        text = _lf_text(raw[:MAX_SCAN_BYTES])
    else:
        text = to_lf(bytes(raw[:MAX_SCAN_BYTES])).decode("utf-8", "surrogateescape")
    if "\x00" in text:
        text = text.replace("\x00", "")
    return text


def recode(text: str, charset: str) -> str:
    """Re-read ``text`` (utf-8 with surrogate escapes) as ``charset``."""
    cs = (charset or "").strip().strip('"').lower()
    if cs in _ASCII_COMPAT:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    try:
        codecs.lookup(cs)
    except LookupError:
        cs = "latin-1"
    try:
        return text.encode("utf-8", "surrogateescape").decode(cs, "replace")
    except (UnicodeError, LookupError):
        return text.encode("utf-8", "surrogateescape").decode("latin-1")


def clean(text: str) -> str:
    """Replace leftover surrogate escapes so the text is safe to emit."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


class Headers:
    """Case-insensitive multi-valued header list with unfolded values."""

    __slots__ = ("items",)

    def __init__(self, items: list[tuple[str, str]] | None = None) -> None:
        self.items: list[tuple[str, str]] = items or []

    def get(self, name: str, default: str = "") -> str:
        name = name.lower()
        for k, v in self.items:
            if k == name:
                return v
        return default

    def get_all(self, name: str) -> list[str]:
        name = name.lower()
        return [v for k, v in self.items if k == name]

    def __contains__(self, name: str) -> bool:
        name = name.lower()
        return any(k == name for k, _ in self.items)

    def __len__(self) -> int:
        return len(self.items)


def parse_headers(block: str) -> Headers:
    """Parse an RFC 5322 header block (LF newlines); tolerant of junk lines."""
    items: list[tuple[str, str]] = []
    for line in block.split("\n"):
        if not line:
            continue
        if line[0] in " \t":
            if items:
                k, v = items[-1]
                items[-1] = (k, (v + " " + line.strip()) if v else line.strip())
            continue
        name, sep, value = line.partition(":")
        name = name.rstrip()
        if sep and name and _HEADER_NAME_RE.match(name):
            items.append((name.lower(), value.strip()))
        elif items and items[-1][1].endswith(";") and "=" in line:
            # A parameter continuation that lost its leading whitespace.
            k, v = items[-1]
            items[-1] = (k, v + " " + line.strip())
    return Headers(items)


def looks_like_header_line(line: str) -> bool:
    name, sep, _ = line.partition(":")
    return bool(sep) and bool(name) and bool(_HEADER_NAME_RE.match(name))


def split_head_body(text: str) -> tuple[str, str]:
    """Split at the first empty line; a block that does not start with a
    header line has no header section at all."""
    if text.startswith("From ") and "\n" in text[:1000]:
        # mbox envelope line from a local mailbox
        text = text.split("\n", 1)[1]
    if text.startswith("\n"):
        return "", text[1:]
    first = text.split("\n", 1)[0]
    if not looks_like_header_line(first):
        return "", text
    idx = text.find("\n\n")
    if idx < 0:
        return text, ""
    return text[:idx], text[idx + 2 :]


def content_type(value: str) -> tuple[str, dict[str, str]]:
    """Return the lowercased media type and its parameters."""
    if not value:
        return "", {}
    main = value.split(";", 1)[0].strip().lower()
    params: dict[str, str] = {}
    for m in _PARAM_RE.finditer(value):
        v = m.group(2)
        if v.startswith('"') and v.endswith('"') and len(v) >= 2:
            v = v[1:-1].replace('\\"', '"')
        params.setdefault(m.group(1).lower(), v)
    return main, params


def decode_words(value: str) -> str:
    """Decode RFC 2047 encoded words; returns the input on any failure."""
    if "=?" not in value:
        return value
    try:
        out = []
        for chunk, cs in decode_header(value):
            if isinstance(chunk, bytes):
                out.append(chunk.decode(cs or "utf-8", "replace"))
            else:
                out.append(chunk)
        return "".join(out)
    except (LookupError, ValueError, UnicodeError, AssertionError):
        return value


@dataclass
class Part:
    headers: Headers
    ctype: str
    params: dict[str, str]
    body: str
    children: list[Part] = field(default_factory=list)

    def walk(self) -> Iterator[Part]:
        yield self
        for c in self.children:
            yield from c.walk()


def _decode_body(body: str, cte: str, charset: str) -> str:
    cte = cte.lower().strip()
    if cte == "base64":
        compact = "".join(body.split())
        compact = compact[: len(compact) - len(compact) % 4]
        try:
            data = base64.b64decode(compact.encode("ascii", "ignore"), validate=False)
        except (binascii.Error, ValueError):
            return body
        return _lf_text(recode(data.decode("utf-8", "surrogateescape"), charset))
    if cte == "quoted-printable":
        try:
            data = binascii.a2b_qp(body.encode("utf-8", "surrogateescape"))
        except (binascii.Error, ValueError):
            return body
        return _lf_text(recode(data.decode("utf-8", "surrogateescape"), charset))
    if charset and charset.lower() not in _ASCII_COMPAT:
        return recode(body, charset)
    return body


class _Budget:
    __slots__ = ("parts",)

    def __init__(self) -> None:
        self.parts = 0


_ORIGINAL_TYPES = ("message/rfc822", "text/rfc822-headers", "message/rfc822-headers")


def _split_multipart(body: str, boundary: str) -> list[str]:
    delim = "\n--" + boundary
    pieces = ("\n" + body).split(delim)
    out = []
    for piece in pieces[1:]:
        if piece.startswith("--"):
            break
        nl = piece.find("\n")
        out.append("" if nl < 0 else piece[nl + 1 :])
    return out


def parse_part(text: str, budget: _Budget, depth: int = 0, default: str = "text/plain") -> Part:
    head, body = split_head_body(text)
    headers = parse_headers(head) if head else Headers()
    ctype, params = content_type(headers.get("content-type"))
    if not ctype:
        ctype = default
    budget.parts += 1
    part = Part(headers, ctype, params, body)
    if depth >= MAX_DEPTH or budget.parts > MAX_PARTS:
        return part
    if ctype.startswith("multipart/") and not params.get("boundary"):
        # A lost boundary parameter: the first delimiter line gives it away.
        m = _DELIMITER_RE.search(body[:MAX_HEADER_BLOCK])
        if m:
            params["boundary"] = m.group(1)
    if ctype.startswith("multipart/") and params.get("boundary"):
        sub_default = "message/rfc822" if ctype == "multipart/digest" else "text/plain"
        for chunk in _split_multipart(body, params["boundary"]):
            if budget.parts > MAX_PARTS:
                break
            part.children.append(parse_part(chunk, budget, depth + 1, sub_default))
        return part
    if ctype in _ORIGINAL_TYPES or ctype == "message/global":
        # Only the returned message's headers matter; its body is never parsed.
        inner = body
        cte = headers.get("content-transfer-encoding").lower()
        if cte in ("base64", "quoted-printable"):
            inner = _decode_body(body[: MAX_HEADER_BLOCK * 2], cte, "utf-8")
        ihead, _ = split_head_body(inner.lstrip("\n")[:MAX_HEADER_BLOCK])
        if not ihead and inner.strip():
            ihead = inner.lstrip("\n")[:MAX_HEADER_BLOCK].split("\n\n", 1)[0]
        part.children.append(Part(parse_headers(ihead), "x-original/headers", {}, ""))
        return part
    cte = headers.get("content-transfer-encoding")
    charset = params.get("charset", "")
    if cte or charset:
        part.body = _decode_body(body, cte, charset)
    return part


def parse_message(text: str) -> Part:
    """Parse newline-normalised message text into a bounded :class:`Part` tree."""
    return parse_part(text, _Budget())
