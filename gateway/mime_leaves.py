"""MIME leaves on raw bytes: find the text parts, decode them, encode their new text.

The tree is walked with the boundaries from each Content-Type so that a
caller can splice a changed body back and leave headers, boundaries, other
parts, preamble and epilogue byte-identical (see ``gateway.tracking``). A
re-encoded body keeps its transfer encoding and charset; ``encode`` answers
None when the result would not be safe to relay.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Iterator
from dataclasses import dataclass

_MAX_LINE = 998  # RFC 5321 line limit, without the CRLF

_WANTED_HEADERS = re.compile(
    rb"^(content-type|content-transfer-encoding|content-disposition|list-unsubscribe)"
    rb"[ \t]*:(.*(?:\r?\n[ \t].*)*)",
    re.I | re.M,
)
_PARAM = re.compile(r""";\s*([^\s;=]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s]*))""")
_ENCODINGS = frozenset(("", "7bit", "8bit", "binary", "quoted-printable", "base64"))
# Charsets whose decode/encode round trip is exact by construction.
_SAFE_CHARSETS = frozenset(("utf-8", "utf8", "us-ascii", "ascii", "iso-8859-1", "latin1"))
# Changing a byte under these would break a signature or someone else's message.
_OPAQUE = frozenset(("multipart/signed", "multipart/encrypted", "message/rfc822"))


@dataclass(frozen=True)
class Entity:
    headers: dict[str, str]
    body_start: int
    end: int


@dataclass(frozen=True)
class Leaf:
    start: int
    end: int
    subtype: str
    charset: str
    encoding: str


def headers_at(data: bytes, start: int, end: int, eol: bytes) -> Entity | None:
    """Split an entity into its few interesting headers and the offset of its body."""
    if data.startswith(eol, start):
        return Entity({}, start + len(eol), end)
    blank = data.find(eol + eol, start, end)
    if blank < 0:
        return None
    headers: dict[str, str] = {}
    for m in _WANTED_HEADERS.finditer(data, start, blank + len(eol)):
        name = m.group(1).decode("ascii").lower()
        value = re.sub(rb"\r?\n", b"", m.group(2)).strip().decode("latin-1")
        headers.setdefault(name, value)
    return Entity(headers, blank + 2 * len(eol), end)


def content_type(value: str) -> tuple[str, dict[str, str]]:
    kind, _, rest = value.partition(";")
    params: dict[str, str] = {}
    for m in _PARAM.finditer(";" + rest):
        quoted, bare = m.group(2), m.group(3)
        raw = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else bare
        params.setdefault(m.group(1).lower(), raw)
    return kind.strip().lower() or "text/plain", params


def collect(data: bytes, entity: Entity, eol: bytes, plain: bool, out: list[Leaf]) -> None:
    ctype, params = content_type(entity.headers.get("content-type", "text/plain"))
    if ctype in _OPAQUE or entity.headers.get("content-disposition", "").lower().startswith(
        "attachment"
    ):
        return
    if ctype.startswith("multipart/"):
        boundary = params.get("boundary")
        if boundary:
            for start, end in parts(data, entity.body_start, entity.end, boundary.encode()):
                child = headers_at(data, start, end, eol)
                if child is not None:
                    collect(data, child, eol, plain, out)
        return
    if ctype == "text/html" or (plain and ctype == "text/plain"):
        encoding = entity.headers.get("content-transfer-encoding", "").lower()
        if encoding in _ENCODINGS:
            charset = params.get("charset", "us-ascii").strip().lower()
            out.append(Leaf(entity.body_start, entity.end, ctype[5:], charset, encoding))


def parts(data: bytes, start: int, end: int, boundary: bytes) -> Iterator[tuple[int, int]]:
    """(start, end) of each body part; a delimiter's leading line break belongs to it."""
    marker = b"--" + boundary
    part_start: int | None = None
    at = data.find(marker, start, end)
    while at >= 0:
        after = at + len(marker)
        line_end = data.find(b"\n", after, end)
        line_end = end if line_end < 0 else line_end
        rest = data[after:line_end].rstrip(b"\r")
        closing = rest.startswith(b"--")
        # A delimiter starts a line, and only "--" and white space may follow the boundary.
        if data[at - 1] == 0x0A and not (rest[2:] if closing else rest).strip(b" \t"):
            if part_start is not None:
                part_end = at - 2 if data[at - 2 : at] == b"\r\n" else at - 1
                yield part_start, max(part_start, part_end)
            if closing:
                return
            part_start = min(line_end + 1, end)
        at = data.find(marker, after, end)
    if part_start is not None:  # no closing delimiter: the last part runs to the end
        yield part_start, end


def decode(data: bytes, leaf: Leaf) -> str | None:
    raw = data[leaf.start : leaf.end]
    try:
        if leaf.encoding == "quoted-printable":
            raw = binascii.a2b_qp(raw)
        elif leaf.encoding == "base64":
            raw = binascii.a2b_base64(raw)
        # surrogateescape carries stray bytes (8-bit text labelled us-ascii) through unchanged.
        text = raw.decode(leaf.charset, "surrogateescape")
        # Only rewrite what re-encodes to the very same bytes; the rest stays as it came.
        # (Stateful codecs such as ISO-2022-JP have more than one spelling of a text.)
        if (
            leaf.charset not in _SAFE_CHARSETS
            and text.encode(leaf.charset, "surrogateescape") != raw
        ):
            return None
    except (binascii.Error, LookupError, UnicodeError, ValueError):
        return None
    return text


def encode(data: bytes, leaf: Leaf, text: str, eol: bytes, base_url: str) -> bytes | None:
    try:
        raw = text.encode(leaf.charset, "surrogateescape")
    except (LookupError, UnicodeError):
        return None
    ended = data.endswith(eol, leaf.start, leaf.end)
    if leaf.encoding == "base64":
        flat = binascii.b2a_base64(raw, newline=False)
        body = eol.join([flat[i : i + 76] for i in range(0, len(flat), 76)])
        return body + eol if ended else body
    if leaf.encoding == "quoted-printable":
        if b"\r" in raw.replace(b"\r\n", b""):
            return None  # a bare CR cannot be kept apart from line breaks by b2a_qp
        # b2a_qp follows the text's first line break, or LF if there is none: normalise.
        return binascii.b2a_qp(raw, istext=True).replace(b"\r\n", b"\n").replace(b"\n", eol)
    if leaf.encoding == "7bit" and not raw.isascii():
        return None
    return _fold(raw, eol, base_url) if leaf.subtype == "html" else _fits(raw, eol)


def _fits(raw: bytes, eol: bytes) -> bytes | None:
    return raw if max(map(len, raw.split(eol))) <= _MAX_LINE else None


def _fold(raw: bytes, eol: bytes, base_url: str) -> bytes | None:
    """Keep 7bit/8bit HTML within 998 octets a line by breaking before rewritten hrefs.

    Longer hrefs are what pushed the line over, and the space in front of an
    attribute is markup whitespace, so a line break there changes nothing.
    """
    if _fits(raw, eol) is not None:
        return raw
    at = re.compile(rb"""\s(?=href\s*=\s*["']?""" + re.escape(base_url.encode()) + rb"/t/c/)", re.I)
    lines: list[bytes] = []
    for line in raw.split(eol):
        while len(line) > _MAX_LINE:
            cuts = [m.start() for m in at.finditer(line, 1) if m.start() <= _MAX_LINE]
            if not cuts:
                return None
            lines.append(line[: cuts[-1]])
            line = line[cuts[-1] + 1 :]
        lines.append(line)
    return eol.join(lines)
