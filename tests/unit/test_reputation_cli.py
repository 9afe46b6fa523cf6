"""`sluice reputation check` against the loopback DNS server, over real UDP."""

from __future__ import annotations

import asyncio
import json

import pytest

from gateway.cli import main
from tests.support import dnsbl_zones as z
from tests.support.dns_server import DnsServer

pytestmark = pytest.mark.asyncio


def config(tmp_path, port: int) -> str:
    path = tmp_path / "sluice.yaml"
    path.write_text(
        f"""
database: "sqlite:///{tmp_path}/s.db"
tenants:
  - {{name: acme, pool: acme, trusted_networks: [127.0.0.1/32], sender_domains: [a.example]}}
pools:
  acme:
    - {{ip: {z.LISTED_IP}, vmta: v1, hostname: h1.example}}
    - {{ip: {z.PBL_IP}, vmta: v2, hostname: h2.example}}
reputation:
  resolver: "127.0.0.1:{port}"
  lists:
{z.lists_yaml("zen.test", "world.test")}
"""
    )
    return str(path)


async def test_check_prints_each_list_and_each_finding(tmp_path, capsys):
    async with DnsServer(a=z.a_records(), world=z.world()) as dns:
        path = config(tmp_path, dns.port)
        code = await asyncio.to_thread(main, ["reputation", "check", "-c", path])
        out = capsys.readouterr().out
        assert code == 0  # seen once: not confirmed yet
        assert "list world.test: DISABLED this cycle" in out and "list zen.test: ok" in out
        assert f"{z.LISTED_IP} on zen.test: listed 127.0.0.2, 1 cycle(s)" in out
        assert f"{z.PBL_IP} on zen.test: policy 127.0.0.10" in out

        code = await asyncio.to_thread(main, ["reputation", "check", "-c", path])
        out = capsys.readouterr().out
        assert code == 1
        assert f"{z.LISTED_IP} on zen.test: LISTED (confirmed)" in out
        assert f"quarantined: {z.LISTED_IP} on zen.test" in out

        args = ["reputation", "check", "--ip", z.PBL_IP, "--json", "-c", path]
        await asyncio.to_thread(main, args)
        report = json.loads(capsys.readouterr().out)
        assert [s["target"] for s in report["standings"]] == [z.PBL_IP]
