"""``sluice dkim-verify FILE``: check a message's DKIM signatures.

Each DKIM-Signature is verified on its own (a relayed message carries an RSA
and an Ed25519 one), with the public half of the configured key when ``-c``
(or the embedded default) holds that selector and domain, else from DNS, so
an operator can check a message before its records are published. The
verification is dkimpy's, independent of the signing code; Ed25519 needs
pynacl beside it (``pip install dkimpy pynacl``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from conf import ConfigError, load

INSTALL = (
    "sluice dkim-verify needs dkimpy (and pynacl for Ed25519):"
    " pip install dkimpy pynacl (or the [verify] extra)"
)


def add_commands(sub: argparse._SubParsersAction) -> dict[str, Callable[[Any], int]]:
    dv = sub.add_parser("dkim-verify", help="verify a message's DKIM signatures")
    dv.add_argument("file", help="the message (.eml), '-' for stdin")
    dv.add_argument("-c", "--config", help="whose keys' public halves to use before DNS")
    dv.add_argument("--dns-only", action="store_true", help="ignore the configured keys")
    return {"dkim-verify": _verify}


def configured_records(config: str | None) -> dict[bytes, bytes]:
    """DNS name -> TXT record of each configured key ("*" keys under every domain)."""
    from gateway.dkim_keys import public_txt
    from gateway.runtime import load_keys

    records: dict[bytes, bytes] = {}
    for entries in load_keys(load(config)).values():
        for pattern, key in entries:
            domain = "*" if pattern == "*" else key.domain
            name = f"{key.selector}._domainkey.{domain}."
            records[name.encode()] = public_txt(key.private_key).encode()
    return records


def _dnsfunc(records: dict[bytes, bytes], fallback: Callable[..., Any]) -> Callable[..., Any]:
    def lookup(name: bytes, timeout: int = 5) -> Any:
        name = name.lower() if name.endswith(b".") else name.lower() + b"."
        if name in records:
            return records[name]
        selector = name.split(b"._domainkey.", 1)[0]
        wildcard = records.get(selector + b"._domainkey.*.")
        return wildcard if wildcard is not None else fallback(name, timeout=timeout)

    return lookup


def _verify(args: argparse.Namespace) -> int:
    try:
        import dkim
        from dkim.dnsplug import get_txt
    except ImportError:
        print(INSTALL, file=sys.stderr)
        return 2
    try:
        data = sys.stdin.buffer.read() if args.file == "-" else Path(args.file).read_bytes()
    except OSError as exc:
        print(f"dkim-verify: {args.file}: {exc.strerror}", file=sys.stderr)
        return 2
    records: dict[bytes, bytes] = {}
    if not args.dns_only:
        try:
            records = configured_records(args.config)
        except ConfigError as exc:
            print(exc, file=sys.stderr)
            return 2
    return _report(dkim, data, _dnsfunc(records, get_txt))


def _report(dkim: Any, data: bytes, dnsfunc: Callable[..., Any]) -> int:
    checker = dkim.DKIM(data)
    count = sum(1 for name, _ in checker.headers if name.lower() == b"dkim-signature")
    if count == 0:
        print("no DKIM-Signature")
        return 1
    failed = 0
    for idx in range(count):
        checker = dkim.DKIM(data)
        try:
            ok = checker.verify(idx=idx, dnsfunc=dnsfunc)
            why = "" if ok else ": the signature does not match the message and key"
        except Exception as exc:  # dkimpy raises its own and the crypto libraries' errors
            ok, why = False, f": {' '.join(str(exc).split()) or type(exc).__name__}"
        tags = dict(checker.signature_fields) if checker.signature_fields else {}
        label = " ".join(
            f"{k}={tags.get(k.encode(), b'?').decode(errors='replace')}" for k in ("d", "s", "a")
        )
        print(f"signature {idx + 1}: {label}: {'pass' if ok else 'FAIL'}{why}")
        failed += not ok
    return 1 if failed else 0
