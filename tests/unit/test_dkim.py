"""DKIM signing, checked against dkimpy as an independent verifier and RFC 8463's vector.

dkimpy verifies Ed25519 only through PyNaCl, which Sluice does not install. The
``nacl_shim`` fixture gives dkimpy a stand-in ``nacl`` whose VerifyKey is
``cryptography``'s Ed25519; everything else (canonicalisation, h= handling, b= removal,
hashing) is still dkimpy's own, so its verdict stays independent of Sluice's code.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import stat
import subprocess
import types
from pathlib import Path

import dkim
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from dkim import canonicalization, dknewkey
from hypothesis import given
from hypothesis import strategies as st

from gateway import dkim as gd
from gateway.dkim import (
    DkimError,
    DkimKey,
    DkimKeyError,
    dns_record,
    domain_keys,
    from_domain,
    generate_key,
    keygen_to_file,
    load_key,
    sign,
)
from gateway.dkim_keys import public_txt
from tests.support import backends

OPENSSL = shutil.which("openssl")


@pytest.fixture
def openssl() -> str:
    """The openssl CLI, to load keys made the way people make them."""
    if OPENSSL is None:
        backends.unavailable("openssl CLI not installed")
    return OPENSSL


# --- dkimpy as verifier -------------------------------------------------------------


class _BadSignature(Exception):
    pass


class _VerifyKey:
    def __init__(self, key: bytes, encoder: type) -> None:
        self._key = ed25519.Ed25519PublicKey.from_public_bytes(encoder.decode(key))

    def verify(self, smessage: bytes, signature: bytes) -> bytes:
        try:
            self._key.verify(signature, smessage)
        except InvalidSignature:
            raise _BadSignature from None
        return smessage


class _Base64Encoder:
    @staticmethod
    def decode(data: bytes) -> bytes:
        return base64.b64decode(data)


@pytest.fixture(autouse=True)
def nacl_shim(monkeypatch: pytest.MonkeyPatch) -> None:
    shim = types.SimpleNamespace(
        signing=types.SimpleNamespace(VerifyKey=_VerifyKey),
        encoding=types.SimpleNamespace(Base64Encoder=_Base64Encoder),
        exceptions=types.SimpleNamespace(ValueError=ValueError, BadSignatureError=_BadSignature),
    )
    monkeypatch.setattr(dkim, "nacl", shim, raising=False)


def txt_from_record(record: str) -> str:
    """The TXT value a resolver would return for a dns_record() line."""
    return "".join(re.findall(r'"([^"]*)"', record))


def verify_all(message: bytes, keys: list[DkimKey], txts: dict[str, str]) -> list[bool]:
    """dkimpy's verdict on each DKIM-Signature at the top of ``message``."""

    def dnsfunc(name: bytes, timeout: int = 5) -> bytes | None:
        for key in keys:
            if name == f"{key.selector}._domainkey.{key.domain}.".encode():
                return txts[key.selector].encode()
        return None

    def one(idx: int) -> bool:
        try:
            return bool(checker.verify(idx=idx, dnsfunc=dnsfunc))
        except dkim.DKIMException:  # e.g. a body hash mismatch raises rather than returns
            return False

    checker = dkim.DKIM(message)
    count = sum(1 for name, _ in checker.headers if name.lower() == b"dkim-signature")
    return [one(i) for i in range(count)]


def make_key(algorithm: str, selector: str, domain: str = "acme-mail.com") -> tuple[DkimKey, str]:
    pem, txt = generate_key(algorithm)  # type: ignore[arg-type]
    key = serialization.load_pem_private_key(pem, password=None)
    name = "rsa-sha256" if algorithm == "rsa" else "ed25519-sha256"
    return DkimKey(domain, selector, name, key), txt  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def rsa_key() -> tuple[DkimKey, str]:
    return make_key("rsa", "s2026r")


@pytest.fixture(scope="module")
def ed_key() -> tuple[DkimKey, str]:
    return make_key("ed25519", "s2026e")


@pytest.fixture
def both(rsa_key, ed_key) -> tuple[list[DkimKey], dict[str, str]]:
    keys = [rsa_key[0], ed_key[0]]
    return keys, {rsa_key[0].selector: rsa_key[1], ed_key[0].selector: ed_key[1]}


def crlf(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode("utf-8")


BASIC = crlf(
    "From: Acme News <news@acme-mail.com>\n"
    "To: Jane Doe <jane@example.net>\n"
    "Subject: Spring sale\n"
    "Date: Mon, 04 May 2026 10:00:00 +0000\n"
    "Message-ID: <abc.123@acme-mail.com>\n"
    "MIME-Version: 1.0\n"
    "Content-Type: text/plain; charset=utf-8\n"
    "List-Unsubscribe: <https://acme-mail.com/u/123>\n"
    "List-Unsubscribe-Post: List-Unsubscribe=One-Click\n"
    "Feedback-ID: c42:acme:campaign:esp\n"
    "\n"
    "Hello Jane,\n"
    "\n"
    "Our spring sale starts today.\n"
)


def signed(message: bytes, keys: list[DkimKey], **kw) -> bytes:
    return sign(message, keys, **kw) + message


# --- RFC 8463 Appendix A: an outside test vector --------------------------------------

RFC_SEED = "nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A="
RFC_ED_PUB = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
RFC_RSA_PUB = (
    "MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWRiGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQiY"
    "/J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqMKrM3rG4hstT5QjvHO9PzoxZyVYL"
    "zBfO2EeC3Ip3G+2kryOTIKT+l/K4w3QIDAQAB"
)
RFC_SIGNED = crlf(
    "DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed;\n"
    " d=football.example.com; i=@football.example.com;\n"
    " q=dns/txt; s=brisbane; t=1528637909; h=from : to :\n"
    " subject : date : message-id : from : subject : date;\n"
    " bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\n"
    " b=/gCrinpcQOoIfuHNQIbq4pgh9kyIK3AQUdt9OdqQehSwhEIug4D11Bus\n"
    " Fa3bT3FY5OsU7ZbnKELq+eXdp1Q1Dw==\n"
    "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;\n"
    " d=football.example.com; i=@football.example.com;\n"
    " q=dns/txt; s=test; t=1528637909; h=from : to : subject :\n"
    " date : message-id : from : subject : date;\n"
    " bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\n"
    " b=F45dVWDfMbQDGHJFlXUNB2HKfbCeLRyhDXgFpEL8GwpsRe0IeIixNTe3\n"
    " DhCVlUrSjV4BwcVcOF6+FF3Zo9Rpo1tFOeS9mPYQTnGdaSGsgeefOsk2Jz\n"
    " dA+L10TeYt9BgDfQNZtKdN1WO//KgIqXP7OdEFE4LjFYNcUxZQ4FADY+8=\n"
    "From: Joe SixPack <joe@football.example.com>\n"
    "To: Suzie Q <suzie@shopping.example.net>\n"
    "Subject: Is dinner ready?\n"
    "Date: Fri, 11 Jul 2003 21:00:37 -0700 (PDT)\n"
    "Message-ID: <20030712040037.46341.5F8J@football.example.com>\n"
    "\n"
    "Hi.\n"
    "\n"
    "We lost the game.  Are you hungry yet?\n"
    "\n"
    "Joe.\n"
)


def _rfc_parts() -> tuple[list[tuple[bytes, bytes]], list[bytes], bytes]:
    head, body = gd._split_message(RFC_SIGNED)
    fields = gd._fields(head)
    sigs = [raw for name, raw in fields if name == b"dkim-signature"]
    return [f for f in fields if f[0] != b"dkim-signature"], sigs, body


def test_rfc8463_body_hash() -> None:
    _, _, body = _rfc_parts()
    assert gd.body_hash(body) == "2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8="


def test_rfc8463_transcription_verifies_with_dkimpy() -> None:
    records = {
        b"brisbane._domainkey.football.example.com.": f"v=DKIM1; k=ed25519; p={RFC_ED_PUB}",
        b"test._domainkey.football.example.com.": f"v=DKIM1; k=rsa; p={RFC_RSA_PUB}",
    }
    checker = dkim.DKIM(RFC_SIGNED)
    for idx in (0, 1):
        assert checker.verify(idx=idx, dnsfunc=lambda n, timeout=5: records[n].encode())


@pytest.mark.parametrize("which", [0, 1])
def test_rfc8463_signatures_verify_over_our_header_canonicalisation(which: int) -> None:
    """Sluice's header selection and relaxed canonicalisation reproduce the signed bytes."""
    fields, sigs, _ = _rfc_parts()
    sig = sigs[which]
    tags = dict((k.strip().decode(), v) for k, _, v in (t.partition(b"=") for t in sig.split(b";")))
    names = [n.strip().decode() for n in tags["h"].replace(b"\r\n", b"").split(b":")]
    unsigned = re.sub(rb"b=[A-Za-z0-9+/=\s]*\Z", b"b=", sig)
    data = gd._hashed_headers(fields, names) + gd._relaxed_header(unsigned)[:-2]
    signature = base64.b64decode(b"".join(tags["b"].split()))
    if which == 0:
        public = ed25519.Ed25519PublicKey.from_public_bytes(base64.b64decode(RFC_ED_PUB))
        public.verify(signature, hashlib.sha256(data).digest())
    else:
        public = serialization.load_der_public_key(base64.b64decode(RFC_RSA_PUB))
        public.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())


def test_rfc8463_seed_in_dknewkey_format(tmp_path: Path) -> None:
    path = tmp_path / "brisbane.key"
    path.write_text(RFC_SEED)  # dknewkey writes the base64 seed with no newline
    key = load_key(path, "football.example.com", "brisbane")
    assert key.algorithm == "ed25519-sha256"
    assert public_txt(key.private_key) == f"v=DKIM1; k=ed25519; p={RFC_ED_PUB}"
    unsigned = RFC_SIGNED[RFC_SIGNED.index(b"From:") :]
    message = signed(unsigned, [key], signed_headers=["From", "To", "Subject"], timestamp=1)
    assert verify_all(message, [key], {"brisbane": public_txt(key.private_key)}) == [True]


# --- canonicalisation ------------------------------------------------------------------

BODIES = [
    b"",
    b"\r\n",
    b"\r\n\r\n\r\n",
    b"Hello\r\n",
    b"Hello \t world \r\n\r\n \r\n\t\r\n",
    b"  leading\r\n\tindent\r\n",
    b"a\r\n\r\nb\r\n\r\n",
    "Grüße, 東京 \u00a0\r\n".encode(),
    b"x" * 5000 + b"\r\n",
]


@pytest.mark.parametrize("body", BODIES)
def test_relaxed_body_matches_dkimpy(body: bytes) -> None:
    assert gd._relaxed_body(body) == canonicalization.Relaxed.canonicalize_body(body)


_body_lines = st.lists(st.sampled_from([b"a", b"\xc3\xa9", b" ", b"\t", b"  ", b"x y"]), max_size=8)


@given(st.lists(_body_lines.map(b"".join), max_size=8))
def test_relaxed_body_matches_dkimpy_on_random_bodies(lines: list[bytes]) -> None:
    body = b"".join(line + b"\r\n" for line in lines)
    assert gd._relaxed_body(body) == canonicalization.Relaxed.canonicalize_body(body)


def test_relaxed_body_edge_cases() -> None:
    assert gd._relaxed_body(b"") == b""
    assert gd._relaxed_body(b"\r\n\r\n") == b""
    assert gd._relaxed_body(b"abc") == b"abc\r\n"
    # A last line without CRLF loses its trailing WSP too (RFC 6376 §3.4.4, "end of lines").
    assert gd._relaxed_body(b"abc \t") == b"abc\r\n"
    assert gd.body_hash(b"") == "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="


def test_relaxed_header() -> None:
    raw = b"SuBject \t:  Hello\r\n \tbig   world \t"
    assert gd._relaxed_header(raw) == b"subject:Hello big world\r\n"


def test_h_lists_duplicates_bottom_up_and_oversigns_present_fields() -> None:
    fields = gd._fields(crlf("From: a@x.com\nReceived: r\nTo: b@y\nTo: c@y\nX-Other: 1"))
    names = gd._h_names(fields, ["From", "To", "Subject", "Cc"], ["From", "To", "Subject"])
    assert names == ["from", "from", "to", "to", "to"]
    hashed = gd._hashed_headers(fields, names)
    assert hashed == b"from:a@x.com\r\nto:c@y\r\nto:b@y\r\n"


# --- signing, verified by dkimpy -------------------------------------------------------

MESSAGES = {
    "basic": BASIC,
    "utf8_body": BASIC.replace(
        b"Our spring sale", "Unser Frühlingsverkauf \u2013 東京 ✓ starts".encode()
    ).replace(b"charset=utf-8", b"charset=utf-8\r\nContent-Transfer-Encoding: 8bit"),
    "folded_headers": BASIC.replace(
        b"Subject: Spring sale",
        b"Subject: Spring sale with a subject line long enough that it was\r\n folded\r\n"
        b"\tacross three lines",
    ).replace(b"To: Jane Doe <jane@example.net>", b"To: Jane Doe\r\n <jane@example.net>"),
    "duplicate_headers": BASIC.replace(
        b"Subject: Spring sale", b"Subject: Spring sale\r\nTo: second@example.net"
    ).replace(b"MIME-Version", b"Received: by relay\r\nReceived: by relay2\r\nMIME-Version"),
    "trailing_empty_lines": BASIC + b"\r\n\r\n   \r\n\r\n",
    "empty_body": BASIC[: BASIC.index(b"\r\n\r\n") + 4],
    "headers_only": BASIC[: BASIC.index(b"\r\n\r\n") + 2],
    "long_lines": BASIC + (b'<a href="https://acme-mail.com/l/' + b"x" * 990 + b'">y</a>\r\n') * 20,
    "tabs": BASIC.replace(b"Subject: Spring sale", b"Subject:\tSpring\t\tsale \t").replace(
        b"Feedback-ID: c42", b"Feedback-ID:\t c42"
    )
    + b"col1\tcol2\t\tcol3\t\r\n",
    "no_trailing_crlf": BASIC.removesuffix(b"\r\n"),
}


@pytest.mark.parametrize("case", sorted(MESSAGES))
def test_both_keys_verify(case: str, both) -> None:
    keys, txts = both
    message = signed(MESSAGES[case], keys)
    assert verify_all(message, keys, txts) == [True, True]


@pytest.mark.parametrize("algorithm", ["rsa-sha256", "ed25519-sha256"])
def test_single_key_verifies(algorithm: str, both) -> None:
    keys, txts = both
    key = next(k for k in keys if k.algorithm == algorithm)
    assert verify_all(signed(BASIC, [key]), [key], txts) == [True]
    assert dkim.verify(
        signed(BASIC, [key]), dnsfunc=lambda n, timeout=5: txts[key.selector].encode()
    )


def test_signature_field_shape(both) -> None:
    keys, _ = both
    fields = sign(BASIC, keys, timestamp=1_777_000_000)
    rsa_field, ed_field = fields.split(b"\r\nDKIM-Signature:")
    assert fields.startswith(b"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;")
    assert fields.endswith(b"\r\n") and not fields.endswith(b"\r\n\r\n")
    assert all(len(line) <= 78 for line in fields.split(b"\r\n"))
    assert b"t=1777000000;" in rsa_field and b"a=ed25519-sha256;" in ed_field
    h = re.search(rb"h=([^;]*);", rsa_field.replace(b"\r\n ", b"")).group(1)
    assert h.split(b":") == [
        b"from", b"from", b"subject", b"subject", b"date", b"date", b"to", b"to",
        b"message-id", b"mime-version", b"content-type", b"list-unsubscribe",
        b"list-unsubscribe", b"list-unsubscribe-post", b"list-unsubscribe-post",
        b"feedback-id", b"feedback-id",
    ]  # fmt: skip
    bhs = re.findall(rb"bh=([^;]*);", fields)
    assert len(bhs) == 2 and bhs[0] == bhs[1]


def test_body_is_canonicalised_once(monkeypatch: pytest.MonkeyPatch, both) -> None:
    keys, _ = both
    calls = []
    real = gd._relaxed_body
    monkeypatch.setattr(gd, "_relaxed_body", lambda body: calls.append(1) or real(body))
    sign(BASIC, keys)
    assert len(calls) == 1


def test_tampered_body_fails(both) -> None:
    keys, txts = both
    message = signed(BASIC, keys)
    assert verify_all(message.replace(b"starts today", b"starts TODAY"), keys, txts) == [
        False,
        False,
    ]


def test_whitespace_changes_survive_relaxed(both) -> None:
    keys, txts = both
    message = signed(BASIC, keys)
    reflowed = message.replace(b"spring sale starts", b"spring  sale\tstarts") + b"\r\n\r\n"
    reflowed = reflowed.replace(b"Subject: Spring sale", b"Subject:   Spring\r\n sale")
    assert verify_all(reflowed, keys, txts) == [True, True]


@pytest.mark.parametrize(
    "added",
    [
        b"Subject: Urgent: verify your account\r\n",
        b"From: attacker@evil.example\r\n",
        b"List-Unsubscribe: <https://evil.example/u>\r\n",
        b"Feedback-ID: x:y:z:evil\r\n",
    ],
)
@pytest.mark.parametrize("where", ["top", "bottom"])
def test_added_oversigned_header_fails(added: bytes, where: str, both) -> None:
    keys, txts = both
    sig = sign(BASIC, keys)
    if where == "top":
        message = sig + added + BASIC
    else:
        cut = BASIC.index(b"\r\n\r\n") + 2
        message = sig + BASIC[:cut] + added + BASIC[cut:]
    assert verify_all(message, keys, txts) == [False, False]


def test_added_unsigned_header_passes(both) -> None:
    keys, txts = both
    message = signed(BASIC, keys)
    message = message.replace(b"From: Acme", b"Received: from x by y\r\nX-Job: 42\r\nFrom: Acme")
    assert verify_all(message, keys, txts) == [True, True]


def test_modified_duplicate_instance_fails(both) -> None:
    keys, txts = both
    message = signed(MESSAGES["duplicate_headers"], keys)
    assert verify_all(message.replace(b"second@", b"third@"), keys, txts) == [False, False]


def test_sign_requires_from(both) -> None:
    keys, _ = both
    with pytest.raises(DkimError, match="From"):
        sign(BASIC.replace(b"From:", b"X-From:"), keys)


def test_sign_without_keys_is_empty() -> None:
    assert sign(BASIC, []) == b""


# --- key files -------------------------------------------------------------------------


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _roundtrip(key: DkimKey) -> None:
    txt = public_txt(key.private_key)
    assert verify_all(signed(BASIC, [key]), [key], {key.selector: txt}) == [True]


def test_load_rsa_pkcs8(tmp_path: Path) -> None:
    pem, txt = generate_key("rsa")
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----")
    key = load_key(_write(tmp_path, "k.pem", pem), "Acme-Mail.COM.", "s1")
    assert (key.domain, key.algorithm, key.private_key.key_size) == (
        "acme-mail.com",
        "rsa-sha256",
        2048,
    )
    assert public_txt(key.private_key) == txt
    _roundtrip(key)


def test_load_rsa_pkcs1(tmp_path: Path) -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    assert pem.startswith(b"-----BEGIN RSA PRIVATE KEY-----")
    _roundtrip(load_key(_write(tmp_path, "k.pem", pem), "acme-mail.com", "s1"))


def test_load_ed25519_pkcs8(tmp_path: Path) -> None:
    pem, txt = generate_key("ed25519")
    key = load_key(_write(tmp_path, "k.pem", pem), "acme-mail.com", "e1")
    assert key.algorithm == "ed25519-sha256" and public_txt(key.private_key) == txt
    assert len(base64.b64decode(txt.split("p=")[1])) == 32
    _roundtrip(key)


def test_load_dknewkey_ed25519_format(tmp_path: Path) -> None:
    # What dknewkey's GenEd25519Keys writes: base64 of the 32-byte seed, no newline.
    seed = os.urandom(32)
    path = _write(tmp_path, "e.key", base64.b64encode(seed))
    key = load_key(path, "acme-mail.com", "e1")
    _roundtrip(key)
    # The 64-byte seed+public layout is accepted, and a mismatched public half is not.
    public = key.private_key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    _roundtrip(load_key(_write(tmp_path, "e64", base64.b64encode(seed + public)), "a.com", "e"))
    bad = _write(tmp_path, "bad64", base64.b64encode(seed + bytes(32)))
    with pytest.raises(DkimKeyError, match="does not match"):
        load_key(bad, "a.com", "e")


def test_load_dknewkey_rsa_files(tmp_path: Path) -> None:
    if not Path(dknewkey.OPENSSL_BINARY).exists():
        backends.unavailable(f"dknewkey needs openssl at {dknewkey.OPENSSL_BINARY}")
    private = str(tmp_path / "s1.key")
    dns = str(tmp_path / "s1.dns")
    dknewkey.GenRSAKeys(private, verbose=False)
    dknewkey.ExtractRSADnsPublicKey(private, dns, verbose=False)
    key = load_key(private, "acme-mail.com", "s1")
    txt = Path(dns).read_text()
    assert verify_all(signed(BASIC, [key]), [key], {"s1": txt}) == [True]


@pytest.mark.parametrize("algorithm", ["RSA", "ed25519"])
def test_load_openssl_genpkey(tmp_path: Path, algorithm: str, openssl: str) -> None:
    path = tmp_path / "k.pem"
    subprocess.run([openssl, "genpkey", "-algorithm", algorithm, "-out", str(path)], check=True)
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    _roundtrip(load_key(path, "acme-mail.com", "s1"))


def test_load_openssl_genrsa_traditional(tmp_path: Path, openssl: str) -> None:
    path = tmp_path / "k.pem"
    cmd = [openssl, "genrsa", "-traditional", "-out", str(path), "2048"]
    subprocess.run(cmd, check=True, capture_output=True)
    _roundtrip(load_key(path, "acme-mail.com", "s1"))


def _short_rsa_pem() -> bytes:
    # Two fixed 256-bit primes: cryptography refuses to generate keys under 1024 bits.
    p = 109359896775042527584249672601076729201057695379521494156836809336731587065633
    q = 104203841906738462056992964131641120074274665699453644447873218251279996944389
    d = pow(65537, -1, (p - 1) * (q - 1))
    numbers = rsa.RSAPrivateNumbers(
        p, q, d, rsa.rsa_crt_dmp1(d, p), rsa.rsa_crt_dmq1(d, q), rsa.rsa_crt_iqmp(p, q),
        rsa.RSAPublicNumbers(65537, p * q),
    )  # fmt: skip
    return numbers.private_key().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


def _bad_files() -> dict[str, tuple[bytes, str]]:
    ed_public = (
        ed25519.Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    ec_private = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    encrypted = ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret"),
    )
    return {
        "garbage": (b"this is not a key\n", "neither a PEM private key nor a base64"),
        "short_seed": (base64.b64encode(b"x" * 16), "base64 of 16 bytes"),
        "public": (ed_public, "public key, not a private key"),
        "ec": (ec_private, "unsupported key type"),
        "encrypted": (encrypted, "encrypted"),
        "short_rsa": (_short_rsa_pem(), "512 bits; DKIM needs at least 1024"),
        "broken_pem": (b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "PEM"),
    }


@pytest.mark.parametrize("case", sorted(_bad_files()))
def test_key_file_errors_name_the_path(tmp_path: Path, case: str) -> None:
    data, reason = _bad_files()[case]
    path = _write(tmp_path, f"{case}.key", data)
    with pytest.raises(DkimKeyError) as info:
        load_key(path, "acme-mail.com", "s1")
    assert str(info.value).startswith(f"{path}: ") and reason in str(info.value)


def test_missing_key_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.key"
    with pytest.raises(DkimKeyError, match=f"^{re.escape(str(path))}: key file not found$"):
        load_key(path, "acme-mail.com", "s1")


def test_bad_domain_or_selector(tmp_path: Path) -> None:
    path = _write(tmp_path, "k", generate_key("ed25519")[0])
    with pytest.raises(DkimKeyError, match="not a valid domain"):
        load_key(path, "localhost", "s1")
    with pytest.raises(DkimKeyError, match="selector"):
        load_key(path, "acme-mail.com", "bad selector")


def test_key_and_algorithm_must_agree() -> None:
    with pytest.raises(DkimKeyError, match="rsa-sha256 needs an RSA"):
        DkimKey("a.com", "s", "rsa-sha256", ed25519.Ed25519PrivateKey.generate())
    with pytest.raises(DkimKeyError, match="unsupported DKIM algorithm"):
        DkimKey("a.com", "s", "rsa-sha1", ed25519.Ed25519PrivateKey.generate())


def test_repr_hides_the_private_key(ed_key) -> None:
    assert repr(ed_key[0]) == "DkimKey(ed25519-sha256 s=s2026e d=acme-mail.com)"


# --- generation, DNS record, keygen file ------------------------------------------------


def test_generate_key_rejects_bad_parameters() -> None:
    with pytest.raises(DkimKeyError, match="1024"):
        generate_key("rsa", bits=512)
    with pytest.raises(DkimKeyError, match="unsupported"):
        generate_key("dsa")  # type: ignore[arg-type]


def test_dns_record_splits_into_255_char_strings(rsa_key) -> None:
    txt = rsa_key[1]
    record = dns_record("acme-mail.com", "s2026r", txt)
    assert record.startswith('s2026r._domainkey.acme-mail.com. IN TXT ( "v=DKIM1; k=rsa; p=MIIB')
    assert record.endswith('" )')
    strings = re.findall(r'"([^"]*)"', record)
    assert len(strings) == 2 and all(len(s) <= 255 for s in strings)
    assert "".join(strings) == txt


@pytest.mark.parametrize("algorithm", ["rsa", "ed25519"])
def test_keygen_to_file(tmp_path: Path, algorithm: str) -> None:
    path = tmp_path / "s2026.key"
    record = keygen_to_file(path, "acme-mail.com", "s2026", algorithm)  # type: ignore[arg-type]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert record.startswith("s2026._domainkey.acme-mail.com. IN TXT (")
    key = load_key(path, "acme-mail.com", "s2026")
    assert verify_all(signed(BASIC, [key]), [key], {"s2026": txt_from_record(record)}) == [True]
    before = path.read_bytes()
    with pytest.raises(DkimKeyError, match="already exists"):
        keygen_to_file(path, "acme-mail.com", "s2026", algorithm)  # type: ignore[arg-type]
    assert path.read_bytes() == before


# --- domain selection ------------------------------------------------------------------


def test_domain_keys(rsa_key, ed_key) -> None:
    parent_rsa, parent_ed = rsa_key[0], ed_key[0]
    news = make_key("ed25519", "n1", "news.acme-mail.com")[0]
    other = make_key("ed25519", "o1", "other.example")[0]
    keys = [parent_rsa, news, other, parent_ed]
    assert domain_keys(keys, "acme-mail.com") == [parent_rsa, parent_ed]
    assert domain_keys(keys, "promo.acme-mail.com") == [parent_rsa, parent_ed]
    assert domain_keys(keys, "news.acme-mail.com") == [news]
    assert domain_keys(keys, "x.news.acme-mail.com") == [news]
    assert domain_keys(keys, "NEWS.Acme-Mail.com.") == [news]
    assert domain_keys(keys, "notacme-mail.com") == []
    assert domain_keys(keys, "mail.com") == []
    assert domain_keys(keys, None) == []
    assert domain_keys(keys, "not a domain") == []


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Acme <news@Acme-Mail.COM>", "acme-mail.com"),
        ("news@acme-mail.com", "acme-mail.com"),
        ("=?utf-8?q?J=C3=B6?= <jo@b\u00fccher.de>", "xn--bcher-kva.de"),
        ('"x@evil.example" <news@acme-mail.com>', "acme-mail.com"),
        ("Acme\r\n <news@acme-mail.com>", "acme-mail.com"),
        ("news@acme-mail.com.", "acme-mail.com"),
        ("a@acme-mail.com, b@other.example", None),
        ("alice@acme-mail.com)<bob@evil.example>", None),
        ("undisclosed-recipients:;", None),
        ("no address here", None),
        ("Joe <joe@[192.0.2.1]>", None),
        ("", None),
    ],
)
def test_from_domain(value: str, expected: str | None) -> None:
    head = b"To: x@y.example\r\nFrom: " + value.encode() + b"\r\nSubject: s"
    assert from_domain(head) == expected


def test_from_domain_needs_exactly_one_from() -> None:
    assert from_domain(b"To: x@y.example\r\nSubject: s") is None
    assert from_domain(b"From: a@a.example\r\nFROM: b@b.example") is None
    assert from_domain(BASIC) == "acme-mail.com"
    assert from_domain(b"Subject: s\r\n\r\nFrom: body@body.example\r\n") is None
