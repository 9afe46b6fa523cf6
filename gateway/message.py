"""A message as a list of raw header fields and an untouched body.

Only the header section is parsed: re-serialising the body with the email
package costs about as much as the whole relay, and the bytes we do not
change must leave exactly as they came (DKIM signs them).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from email.utils import getaddresses

FIELD_START = re.compile(rb"^([!-9;-~]+)[ \t]*:")
BARE_CR_OR_LF = re.compile(rb"\r(?!\n)|(?<!\r)\n")


class MalformedMessage(ValueError):
    pass


@dataclass
class Message:
    fields: list[tuple[str, bytes]] = field(
        default_factory=list
    )  # (lower name, raw field with CRLF)
    body: bytes = b""

    @classmethod
    def parse(cls, data: bytes, *, max_header_bytes: int = 256 * 1024) -> Message:
        """Split ``data`` (CRLF line endings) into header fields and body."""
        end = data.find(b"\r\n\r\n")
        if data.startswith(b"\r\n"):
            head, body = b"", data[2:]
        elif end < 0:
            head, body = data, b""
            if head and not head.endswith(b"\r\n"):
                head += b"\r\n"
        else:
            head, body = data[: end + 2], data[end + 4 :]
        if len(head) > max_header_bytes:
            raise MalformedMessage("header section too large")
        fields: list[tuple[str, bytes]] = []
        for line in head.splitlines(keepends=True):
            if line[:1] in (b" ", b"\t") and fields:
                name, raw = fields[-1]
                fields[-1] = (name, raw + line)
                continue
            match = FIELD_START.match(line)
            if match is None:
                # A line that is neither a field nor a continuation ends the header
                # section (RFC 5322 §2.1): keep it and the rest as body.
                index = head.index(line)
                tail = head[index:] + (b"\r\n" + body if end >= 0 else b"")
                return cls(fields, tail)
            fields.append((match[1].decode("ascii").lower(), line))
        return cls(fields, body)

    def to_bytes(self) -> bytes:
        return b"".join(raw for _, raw in self.fields) + b"\r\n" + self.body

    def get_all(self, name: str) -> list[str]:
        name = name.lower()
        return [_value(raw) for n, raw in self.fields if n == name]

    def get(self, name: str) -> str | None:
        values = self.get_all(name)
        return values[0] if values else None

    def remove(self, *names: str) -> int:
        drop = {n.lower() for n in names}
        before = len(self.fields)
        self.fields = [(n, raw) for n, raw in self.fields if n not in drop]
        return before - len(self.fields)

    def prepend(self, name: str, value: str) -> None:
        self.fields.insert(0, (name.lower(), _field(name, value)))

    def append(self, name: str, value: str) -> None:
        self.fields.append((name.lower(), _field(name, value)))

    def header_bytes(self) -> bytes:
        return b"".join(raw for _, raw in self.fields)

    def from_domains(self) -> list[str]:
        """Domains of every address in every From field."""
        found = getaddresses(self.get_all("from"))
        return [addr.rpartition("@")[2].lower() for _, addr in found if "@" in addr]


def _value(raw: bytes) -> str:
    text = raw.decode("utf-8", "replace")
    value = text.split(":", 1)[1] if ":" in text else ""
    return re.sub(r"\r\n([ \t])", r"\1", value).strip()


def _field(name: str, value: str) -> bytes:
    # Folding (CRLF then a space or tab) is allowed; any other CR or LF would
    # start a new header field, which is header injection.
    if BARE_CR_OR_LF.search(value.encode()) or re.search(r"\r\n(?![ \t])", value):
        raise ValueError(f"header {name} value contains a line break")
    return f"{name}: {value}\r\n".encode()


def normalize_line_endings(data: bytes) -> tuple[bytes, int]:
    """Rewrite bare CR and bare LF as CRLF; return the data and how many were found."""
    if data.count(b"\n") == data.count(b"\r\n") == data.count(b"\r"):
        return data, 0
    count = len(BARE_CR_OR_LF.findall(data))
    return BARE_CR_OR_LF.sub(b"\r\n", data), count
