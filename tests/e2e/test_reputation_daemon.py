"""The daemon runs the DNS blocklist watch as a supervised task (gateway/daemon.py)."""

from __future__ import annotations

import pytest

from tests.e2e.test_daemon import write_config
from tests.support import dnsbl_zones as z
from tests.support.daemon import Daemon
from tests.support.dns_server import DnsServer
from tests.support.harness import make_keys

pytestmark = pytest.mark.slow


async def test_the_daemon_polls_its_pool_ips_at_start(tmp_path, sink):
    make_keys(tmp_path)
    async with DnsServer(a=z.a_records(), world=z.world()) as dns:
        path, _, _ = write_config(tmp_path, sink.port)
        path.write_text(
            path.read_text()
            + f'reputation:\n  resolver: "127.0.0.1:{dns.port}"\n  lists:\n'
            + z.lists_yaml("zen.test")
            + "\n"
        )
        d = await Daemon.start(["run", "-c", str(path)], cwd=tmp_path)
        try:
            # The pool's two IPs (192.0.2.10 listed, .11 PBL) and the two test points.
            line = await d.wait_for_log("reputation: 4 queries")
            assert "0 lists disabled" in line
            assert f"{z.rev(z.LISTED_IP)}.zen.test" in dns.queries
            assert f"{z.rev(z.PBL_IP)}.zen.test" in dns.queries
        finally:
            await d.stop()
