"""The daemon runs the DNS authentication check as a supervised task (gateway/daemon.py)."""

from __future__ import annotations

import pytest

from tests.e2e.test_daemon import write_config
from tests.support.daemon import Daemon
from tests.support.dns_server import DnsServer
from tests.support.harness import make_keys

pytestmark = pytest.mark.slow


async def test_the_daemon_checks_its_tenants_dns_at_start(tmp_path, sink):
    make_keys(tmp_path)
    txt = {"acme-mail.com": ["v=spf1 ip4:192.0.2.0/24 -all"]}
    async with DnsServer(txt=txt) as dns:
        path, _, _ = write_config(tmp_path, sink.port)
        path.write_text(path.read_text() + f'dns_check: {{resolver: "127.0.0.1:{dns.port}"}}\n')
        d = await Daemon.start(["run", "-c", str(path)], cwd=tmp_path)
        try:
            line = await d.wait_for_log("dns-check: ")
            assert " targets, " in line and " problems, " in line
            assert "acme-mail.com" in dns.queries and "_dmarc.acme-mail.com" in dns.queries
        finally:
            await d.stop()
