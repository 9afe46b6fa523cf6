"""The embedded default's admin token: printed once at first start, kept hashed."""

import re
from pathlib import Path

import pytest

from admin.auth import authenticate
from conf import EMBEDDED, load
from gateway import first_start


def test_first_start_prints_a_token_that_logs_in_and_keeps_only_its_hash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SLUICE_CONFIG", raising=False)
    settings = load(None)
    assert settings.http.admin_tokens == ()  # the embedded default names none
    first = first_start.with_local_admin(settings, None)
    err = capsys.readouterr().err
    [token] = re.findall(r"^    (\S+)$", err, re.M)
    assert "shown once" in err
    who = authenticate(first.http.admin_tokens, token)
    assert who is not None and who.role == "admin"
    stored = (tmp_path / "var" / "admin-token.sha256").read_text()
    assert (
        token not in stored
        and (tmp_path / "var" / "admin-token.sha256").stat().st_mode & 0o077 == 0
    )
    # The next start (or reload) reads the digest back and prints nothing.
    again = first_start.with_local_admin(load(None), None)
    assert capsys.readouterr().err == ""
    assert authenticate(again.http.admin_tokens, token) is not None


def test_a_configuration_file_of_ones_own_gets_no_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load(EMBEDDED)
    assert first_start.with_local_admin(settings, str(EMBEDDED)) is settings
    monkeypatch.setenv("SLUICE_CONFIG", str(EMBEDDED))
    assert first_start.with_local_admin(settings, None) is settings
    assert not (tmp_path / "var" / "admin-token.sha256").exists()
