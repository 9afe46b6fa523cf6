"""DKIM signing for Sluice: RFC 6376 with rsa-sha256 and RFC 8463 ed25519-sha256.

Canonicalisation is relaxed/relaxed. The signatures themselves go through OpenSSL
(``cryptography``); the canonicalisation is a few byte-level passes over the message, and
the body is hashed once however many keys sign it. Only the header block is parsed, never
the body.

Usage::

    fields = sign(message, domain_keys(keys, from_domain(message)))
    relayed = fields + message
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import re
import time
from collections.abc import Iterable, Sequence

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from gateway.dkim_keys import (
    DkimError,
    DkimKey,
    DkimKeyError,
    dns_record,
    generate_key,
    keygen_to_file,
    load_key,
    normalise_domain,
)

__all__ = [
    "DEFAULT_SIGNED_HEADERS",
    "OVERSIGNED",
    "DkimError",
    "DkimKey",
    "DkimKeyError",
    "body_hash",
    "dns_record",
    "domain_keys",
    "from_domain",
    "generate_key",
    "keygen_to_file",
    "load_key",
    "sign",
]

# Fields whose change alters what the recipient sees or does (RFC 6376 §5.4.1). Trace and
# X- fields are left out: hops after Sluice (PowerMTA among them) add or rewrite those.
DEFAULT_SIGNED_HEADERS: tuple[str, ...] = (
    "From",
    "Sender",
    "Reply-To",
    "Subject",
    "Date",
    "To",
    "Cc",
    "Message-ID",
    "In-Reply-To",
    "References",
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
    "Content-Language",
    "List-Id",
    "List-Help",
    "List-Subscribe",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "List-Post",
    "List-Owner",
    "List-Archive",
    "Feedback-ID",
)

# Listed once more in h= than they occur, so an added instance breaks the signature
# (RFC 6376 §5.4.2, §8.15). RFC 8058 §4 requires List-Unsubscribe-Post to be signed
# together with List-Unsubscribe for one-click unsubscribe.
OVERSIGNED: tuple[str, ...] = (
    "From",
    "Subject",
    "To",
    "Date",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "Feedback-ID",
)

_CRLF = b"\r\n"
# WSP runs that relaxed canonicalisation changes: any run with a tab, or two or more
# spaces. Lone spaces, by far the most common, are left alone: replacing each of them
# with itself made the body pass about three times slower.
_WSP_RUN = re.compile(rb"\t[ \t]*| [ \t]+")
# A header field ends at a CRLF not followed by WSP (RFC 5322 §2.2.3 folding).
_FIELD_SPLIT = re.compile(rb"\r\n(?![ \t])")
_MAX_LINE = 78  # RFC 5322 §2.1.1: lines SHOULD be at most 78 characters


def _split_message(message: bytes) -> tuple[bytes, bytes]:
    """(header block without its final CRLF, body) split at the first empty line."""
    if message.startswith(_CRLF):
        return b"", message[2:]
    end = message.find(b"\r\n\r\n")
    if end < 0:
        return message.removesuffix(_CRLF), b""
    return message[:end], message[end + 4 :]


def _fields(header_block: bytes) -> list[tuple[bytes, bytes]]:
    """[(lower-case name, raw field without final CRLF)] in message order."""
    if not header_block:
        return []
    out = []
    for raw in _FIELD_SPLIT.split(header_block):
        name = raw.partition(b":")[0].rstrip(b" \t").lower()
        out.append((name, raw))
    return out


def _relaxed_header(raw: bytes) -> bytes:
    """RFC 6376 §3.4.2 "relaxed": lower-case name, unfold, one SP per WSP run, trim value."""
    name, _, value = raw.partition(b":")
    value = _WSP_RUN.sub(b" ", value.replace(_CRLF, b"")).strip(b" ")
    return name.rstrip(b" \t").lower() + b":" + value + _CRLF


def _relaxed_body(body: bytes) -> bytes:
    """RFC 6376 §3.4.4 "relaxed": one SP per WSP run, no WSP at line ends, no empty lines at
    the end; a non-empty result ends in CRLF and an empty body stays empty (§3.4.3 note)."""
    if b"\t" in body or b"  " in body:  # memchr-speed checks spare most bodies the regex
        body = _WSP_RUN.sub(b" ", body)
    body = body.replace(b" \r\n", _CRLF)
    if body.endswith(b" "):  # last line without CRLF
        body = body[:-1]
    end = len(body)
    while body.endswith(_CRLF, 0, end):
        end -= 2
    return body[:end] + _CRLF if end else b""


def body_hash(body: bytes) -> str:
    """bh= for ``body`` (the part after the first empty line) under relaxed canonicalisation."""
    return base64.b64encode(hashlib.sha256(_relaxed_body(body)).digest()).decode()


def _h_names(
    fields: list[tuple[bytes, bytes]], signed: Sequence[str], oversign: Sequence[str]
) -> list[str]:
    """The h= list: each signed name once per instance present, oversigned ones once more.

    The extra entry matches nothing now; an instance added later would fill it and break
    the signature (RFC 6376 §5.4.2, §8.15).
    """
    counts: dict[bytes, int] = {}
    for field_name, _ in fields:
        counts[field_name] = counts.get(field_name, 0) + 1
    extra = {name.lower() for name in oversign}
    names: list[str] = []
    for name in dict.fromkeys(n.lower() for n in signed):
        present = counts.get(name.encode("ascii"), 0)
        names.extend([name] * present)
        # Only fields present are oversigned: a name listed but absent would also break the
        # signature if a later hop adds it (PowerMTA can add headers per VMTA).
        if present and name in extra:
            names.append(name)
    return names


def _hashed_headers(fields: list[tuple[bytes, bytes]], names: Sequence[str]) -> bytes:
    """The canonicalised fields that h= ``names`` covers, in hash order.

    Each h= entry takes the bottom-most instance of its name not used by an earlier
    entry; entries with no instance left contribute nothing (RFC 6376 §5.4.2).
    """
    by_name: dict[bytes, list[bytes]] = {}
    for field_name, raw in fields:
        by_name.setdefault(field_name, []).append(raw)
    out: list[bytes] = []
    for name in names:
        instances = by_name.get(name.lower().encode("ascii"))
        if instances:
            out.append(_relaxed_header(instances.pop()))
    return b"".join(out)


def _fold(atoms: Iterable[tuple[str, bool]]) -> str:
    """DKIM-Signature field text, breaking lines between atoms (FWS, RFC 6376 §3.5).

    Each atom is (text, preceded-by-space); a break before an atom is CRLF SP, which is
    the same FWS to the relaxed canonicalisation as a plain space or none at all.
    """
    lines: list[str] = []
    line = "DKIM-Signature:"
    for text, spaced in atoms:
        piece = " " + text if spaced else text
        if len(line) + len(piece) > _MAX_LINE:
            lines.append(line)
            line = " " + text
        else:
            line += piece
    lines.append(line)
    return "\r\n".join(lines)


def _header_atoms(
    key: DkimKey, names: list[str], bh: str, timestamp: int
) -> list[tuple[str, bool]]:
    atoms = [
        ("v=1;", True),
        (f"a={key.algorithm};", True),
        ("c=relaxed/relaxed;", True),
        (f"d={key.domain};", True),
        (f"s={key.selector};", True),
        (f"t={timestamp};", True),
    ]
    # h= may break after any ':' (hdr-name *( [FWS] ":" [FWS] hdr-name )).
    for i, name in enumerate(names):
        last = i == len(names) - 1
        atoms.append(((f"h={name}" if i == 0 else name) + (";" if last else ":"), i == 0))
    atoms.append((f"bh={bh};", True))
    return atoms


def _sign_one(key: DkimKey, names: list[str], hashed: bytes, bh: str, timestamp: int) -> bytes:
    head = _fold(_header_atoms(key, names, bh, timestamp))
    # The signature covers this field with an empty b= and no final CRLF (RFC 6376 §3.7).
    # b= is last and starts its own line, so the folded value added below is exactly what a
    # verifier removes again.
    unsigned = (head + "\r\n b=").encode("ascii")
    data = hashed + _relaxed_header(unsigned)[:-2]
    if isinstance(key.private_key, rsa.RSAPrivateKey):
        signature = key.private_key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    else:
        # Ed25519-SHA256 signs the SHA-256 of the header data with PureEdDSA (RFC 8463 §3).
        signature = key.private_key.sign(hashlib.sha256(data).digest())
    b64 = base64.b64encode(signature)
    first = _MAX_LINE - len(" b=")
    rest = _MAX_LINE - 1
    chunks = [b64[:first]] + [b64[i : i + rest] for i in range(first, len(b64), rest)]
    return unsigned + b"\r\n ".join(chunks) + _CRLF


def sign(
    message: bytes,
    keys: Sequence[DkimKey],
    *,
    signed_headers: Sequence[str] = DEFAULT_SIGNED_HEADERS,
    oversign: Sequence[str] = OVERSIGNED,
    timestamp: int | None = None,
) -> bytes:
    """DKIM-Signature fields (one per key, each folded and CRLF-terminated) to prepend.

    ``message`` is the whole message with CRLF line endings. No keys, no fields: b"".
    Raises DkimError when there is no From field, which every signature must cover
    (RFC 6376 §5.4).
    """
    if not keys:
        return b""
    header_block, body = _split_message(message)
    fields = _fields(header_block)
    names = _h_names(fields, signed_headers, oversign)
    if "from" not in names:
        raise DkimError("message has no From header field (or From is not in signed_headers)")
    hashed = _hashed_headers(fields, names)
    bh = body_hash(body)
    t = int(time.time()) if timestamp is None else int(timestamp)
    return b"".join(_sign_one(key, names, hashed, bh, t) for key in keys)


def domain_keys(keys: Iterable[DkimKey], from_domain: str | None) -> list[DkimKey]:
    """The keys to sign a message from ``from_domain`` with, in their given order.

    DMARC passes on DKIM when d= aligns with the From domain: equal under strict
    alignment, or sharing the organisational domain under relaxed (RFC 7489 §3.1.1).
    A key applies when its domain is the From domain or a parent of it. Only the keys
    of the most specific matching domain are returned: an exact match also satisfies
    strict alignment, and signing again with a parent domain would only add cost.
    """
    if not from_domain:
        return []
    try:
        wanted = normalise_domain(from_domain)
    except DkimKeyError:
        return []
    best: list[DkimKey] = []
    best_len = -1
    for key in keys:
        if wanted == key.domain or wanted.endswith("." + key.domain):
            if len(key.domain) > best_len:
                best, best_len = [key], len(key.domain)
            elif len(key.domain) == best_len:
                best.append(key)
    return best


def from_domain(header_block: bytes) -> str | None:
    """Lower-case domain of the one From address, or None if absent, ambiguous or unparseable.

    A whole message may be passed; only the part before the first empty line is read.
    More than one From field, or a From with several addresses, gives None: DMARC
    cannot align those (RFC 7489 §6.6.1), so they are not signed for any domain.
    """
    head, _ = _split_message(header_block)
    values = [raw.partition(b":")[2] for name, raw in _fields(head) if name == b"from"]
    if len(values) != 1:
        return None
    text = values[0].replace(_CRLF, b"").decode("utf-8", "replace")
    addresses = email.utils.getaddresses([text])
    if len(addresses) != 1:
        return None
    local, at, domain = addresses[0][1].rpartition("@")
    if not (local and at):
        return None
    try:
        return normalise_domain(domain)
    except DkimKeyError:
        return None
