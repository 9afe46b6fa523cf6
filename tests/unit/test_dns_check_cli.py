"""`sluice dns-check` against the loopback DNS server, over real UDP."""

from __future__ import annotations

import asyncio
import json

import pytest

from gateway.cli import main
from tests.support import dnsauth_zones as z
from tests.support.dns_server import DnsServer

pytestmark = pytest.mark.asyncio


async def test_dns_check_prints_each_problem_and_exits_1(tmp_path, capsys) -> None:
    keys = z.Keys(tmp_path)
    async with DnsServer(**z.zones(keys)) as dns:
        path = z.config(tmp_path, dns.port, keys)
        code = await asyncio.to_thread(main, ["dns-check", "-c", path, "--tenant", "beta"])
        out = capsys.readouterr().out
        assert code == 1
        assert "beta t.beta.test: 1 problem(s)" in out
        assert "  PROBLEM Tracking domain t.beta.test does not resolve" in out
        assert "acme" not in out

        dns.a["t.beta.test"] = ["192.0.2.81"]
        dns.ptr["20.2.0.192.in-addr.arpa"] = ["mta.beta.test"]
        args = ["dns-check", "-c", path, "--tenant", "beta", "--json"]
        code = await asyncio.to_thread(main, args)
        report = json.loads(capsys.readouterr().out)
        assert code == 1  # the MX and DMARC of beta are still wrong
        by_target = {r["target"]: r for r in report["reports"]}
        assert by_target["t.beta.test"]["problems"] == []
        assert by_target[z.BETA_IP]["problems"] == [
            f"PTR of {z.BETA_IP} is not forward-confirmed: mta.beta.test -> nothing"
        ]
        assert report["problems"] == sum(len(r["problems"]) for r in report["reports"])


async def test_unknown_tenant_and_bad_configuration_exit_2(tmp_path, capsys) -> None:
    keys = z.Keys(tmp_path)
    path = z.config(tmp_path, 53, keys)
    assert await asyncio.to_thread(main, ["dns-check", "-c", path, "--tenant", "nope"]) == 2
    assert "no tenant 'nope'" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text('dns_check: {resolver: "nowhere"}\n')
    assert await asyncio.to_thread(main, ["dns-check", "-c", str(bad)]) == 2
    assert "dns_check.resolver" in capsys.readouterr().err
