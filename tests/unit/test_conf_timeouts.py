"""The relay must end inside the sender's SMTP timeout (MailWizz: 30 s)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from conf import DownstreamSettings, SmtpSettings, parse
from conf.schema.server import RELAY_MARGIN, timeout_warnings
from gateway import cli

EXAMPLE = Path(__file__).resolve().parents[2] / "conf" / "sluice.example.yaml"


def check_config(tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    path = tmp_path / "sluice.yaml"
    path.write_text(text)
    code = cli.main(["check-config", "-c", str(path)])
    return code, capsys.readouterr().err


def test_the_defaults_fit_inside_mailwizzs_default_timeout():
    s = parse("{}", environ={})
    assert s.smtp.upstream_timeout == 30  # MailWizz's delivery-server default
    assert s.downstream.timeout + RELAY_MARGIN <= s.smtp.upstream_timeout
    assert timeout_warnings(s.smtp, s.downstream) == []


@pytest.mark.parametrize(
    "text",
    ["downstream: {timeout: 28}", "downstream: {timeout: 60}", "smtp: {upstream_timeout: 22}"],
)
def test_check_config_warns_when_the_relay_may_outlast_the_sender(tmp_path, capsys, text):
    code, err = check_config(tmp_path, text + "\n", capsys)
    assert code == 0
    [line] = [x for x in err.splitlines() if x.startswith("warning:")]
    assert "downstream.timeout" in line and "smtp.upstream_timeout" in line


def test_check_config_is_quiet_with_room_to_spare(tmp_path, capsys):
    code, err = check_config(
        tmp_path, "smtp: {upstream_timeout: 60}\ndownstream: {timeout: 50}\n", capsys
    )
    assert (code, err) == (0, "")


def test_the_example_configuration_keeps_the_margin():
    tree = yaml.safe_load(EXAMPLE.read_text())
    smtp = SmtpSettings(upstream_timeout=tree["smtp"]["upstream_timeout"])
    downstream = DownstreamSettings(timeout=tree["downstream"]["timeout"])
    assert timeout_warnings(smtp, downstream) == []
