"""The operator's commands, run as the `sluice` process against a real store."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.support.daemon import ROOT
from tests.support.harness import config_text, make_keys, with_pools

TODAY = datetime.now(UTC).date().isoformat()
POOLS = f"""
pools:
  acme:
    - {{ip: 192.0.2.10, vmta: acme-1, hostname: mta1.acme-mail.com}}
    - {{ip: 192.0.2.12, vmta: acme-3, hostname: mta3.acme-mail.com,
       warmup: {{schedule: standard, started: "{TODAY}"}}}}
"""


@pytest.fixture
def sluice(tmp_path: Path):
    make_keys(tmp_path)
    config = tmp_path / "sluice.yaml"
    config.write_text(with_pools(config_text(tmp_path, 25), POOLS))

    def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "gateway.cli", *args, "-c", str(config)],
            input=stdin,
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=60,
        )

    return run


def test_suppression_import_is_all_or_nothing_and_exports_back(sluice, tmp_path):
    bad = "address,reason\na@example.net,hard_bounce\nnot-an-address,manual\nc@example.net,nope\n"
    result = sluice("suppress", "import", "--tenant", "acme", stdin=bad)
    assert result.returncode == 1
    assert "line 3: 'not-an-address' is not an email address" in result.stderr
    assert "line 4: reason 'nope' is not one of" in result.stderr
    assert sluice("suppress", "export").stdout.splitlines()[1:] == []
    huge = "address\na@example.net\n" + '"' + "x" * 200_000 + '"\n'  # past csv's field limit
    result = sluice("suppress", "import", "--tenant", "acme", stdin=huge)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "line 3: not CSV: field larger than field limit" in result.stderr
    good = tmp_path / "in.csv"
    good.write_text(
        "address,reason,expires_at\nA@Example.net,hard_bounce,\nb@example.net,,2099-01-01\n"
    )
    result = sluice("suppress", "import", "--tenant", "acme", "--file", str(good))
    assert result.returncode == 0 and "imported 2" in result.stderr
    exported = sluice("suppress", "export", "--tenant", "acme").stdout.splitlines()
    assert exported[0] == "address,tenant,reason,source,created_at,expires_at"
    assert exported[1].startswith("a@example.net,acme,hard_bounce,import:cli")
    assert exported[2].startswith("b@example.net,acme,manual,") and exported[2].endswith(
        "2099-01-01T00:00:00+00:00"
    )
    check = sluice("suppress", "check", "a@example.net", "z@example.net", "--tenant", "acme")
    assert check.returncode == 3
    assert "a@example.net: hard bounce (suppression list)" in check.stdout
    assert "z@example.net: not suppressed" in check.stdout
    assert "removed 1" in sluice("suppress", "remove", "a@example.net", "--tenant", "acme").stdout


def test_switches_on_list_off(sluice):
    assert sluice("switch", "list").stdout.strip() == "no switch is on"
    on = sluice("switch", "on", "pause", "--tenant", "acme", "--reason", "bad list")
    assert on.returncode == 0 and "tenant acme pause switch" in on.stdout
    sluice("switch", "on", "dry-run")
    listed = sluice("switch", "list").stdout
    assert "global dry-run switch" in listed and "bad list" in listed
    assert "off" in sluice("switch", "off", "pause", "--tenant", "acme").stdout
    assert "was not on" in sluice("switch", "off", "pause", "--tenant", "acme").stdout
    wrong = sluice("switch", "on", "pause", "--tenant", "nobody")
    assert wrong.returncode == 1 and "no tenant 'nobody'" in wrong.stderr


def test_ip_commands_and_history(sluice):
    paused = sluice("ip", "pause", "192.0.2.10", "--reason", "listed on SORBS")
    assert (
        paused.stdout.strip() == "192.0.2.10: warm -> paused: paused by operator (listed on SORBS)"
    )
    moved = sluice("ip", "set-day", "192.0.2.12", "5")
    assert moved.returncode == 0 and "warmup day set to 5" in moved.stdout
    refused = sluice("ip", "set-day", "192.0.2.10", "5")
    assert refused.returncode == 1 and "192.0.2.10 is paused" in refused.stderr
    history = sluice("ip", "history", "192.0.2.12").stdout
    assert "day 1->5" in history and "cli" in history
    unknown = sluice("ip", "pause", "203.0.113.9")
    assert unknown.returncode == 1 and "no IP 203.0.113.9 in pools" in unknown.stderr


def test_quotas_table(sluice):
    sluice("ip", "set-day", "192.0.2.12", "3")
    out = sluice("quotas", "--tenant", "acme").stdout.splitlines()
    assert out[0].split() == [
        "pool",
        "ip",
        "vmta",
        "state",
        "day",
        "today",
        "left",
        "this",
        "hour",
        "groups",
    ]
    warm = next(line for line in out if "192.0.2.10" in line).split()
    assert warm[3:7] == ["warm", "-", "0/-", "-"]
    warming = next(line for line in out if "192.0.2.12" in line).split()
    # Day 3 of the standard schedule: 100 a day, 8 an hour (100 / 16 * 1.25, rounded up).
    assert warming[3:8] == ["warming", "3", "0/100", "100", "0/8"]
    assert "google=0/" in " ".join(warming[8:])
    assert out[-1].startswith("# used from recorded events")
