"""`sluice dkim-verify FILE`: both signatures of a signed message, with the configured keys."""

from __future__ import annotations

from pathlib import Path

from gateway import dkim
from tests.e2e.test_cli_startup import config, sluice
from tests.support.harness import make_keys, message


def _signed(tmp_path: Path) -> tuple[Path, bytes]:
    make_keys(tmp_path)
    dkim_block = f"""    dkim:
      - {{domain: acme-mail.com, selector: s2026r, key_file: {tmp_path}/s2026r.pem}}
      - {{domain: "*", selector: s2026e, key_file: {tmp_path}/s2026e.pem}}
"""
    path = config(tmp_path)
    text = path.read_text().replace(
        '    sender_domains: ["acme-mail.com"]\n',
        '    sender_domains: ["acme-mail.com"]\n' + dkim_block,
    )
    path.write_text(text)
    keys = [
        dkim.load_key(tmp_path / "s2026r.pem", "acme-mail.com", "s2026r"),
        dkim.load_key(tmp_path / "s2026e.pem", "acme-mail.com", "s2026e"),
    ]
    raw = message(to="someone@example.net").replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    return path, dkim.sign(raw, keys) + raw


async def test_both_signatures_pass_with_the_configured_keys(tmp_path: Path) -> None:
    path, signed = _signed(tmp_path)
    eml = tmp_path / "m.eml"
    eml.write_bytes(signed)
    code, out, err = await sluice("dkim-verify", str(eml), "-c", str(path), cwd=tmp_path)
    assert code == 0, (out, err)
    assert out.splitlines() == [
        "signature 1: d=acme-mail.com s=s2026r a=rsa-sha256: pass",
        "signature 2: d=acme-mail.com s=s2026e a=ed25519-sha256: pass",
    ]


async def test_a_changed_body_fails(tmp_path: Path) -> None:
    path, signed = _signed(tmp_path)
    eml = tmp_path / "m.eml"
    eml.write_bytes(signed + b"one more line\r\n")
    code, out, _ = await sluice("dkim-verify", str(eml), "-c", str(path), cwd=tmp_path)
    assert code == 1
    assert [line.rsplit(": ", 2)[1] for line in out.splitlines()] == ["FAIL", "FAIL"]
