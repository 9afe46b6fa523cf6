"""The daemon keeps a MailWizz delivery server's quotas in a real MariaDB database."""

import asyncio
import time

import aiohttp
import pytest

from admin.auth import digest
from admin.status_page import COOKIE
from tests.support.daemon import Daemon, free_port
from tests.support.harness import config_text, make_keys, send, with_pools

pytestmark = pytest.mark.slow


async def until_server(db, server_id: int, wanted, timeout: float = 15) -> tuple:
    """(status, hourly, daily) once ``wanted`` holds of it, or as it is at the deadline."""
    deadline = time.monotonic() + timeout
    seen = await db.server(server_id)
    while not wanted(seen) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        seen = await db.server(server_id)
    return seen


async def test_the_daemon_writes_capacity_and_counts_what_it_relayed(tmp_path, sink, mailwizz_db):
    make_keys(tmp_path)
    smtp, admin = free_port(), free_port()
    pools = """
    pools:
      acme:
        - {ip: 192.0.2.10, vmta: acme-1, hostname: mta1.acme-mail.com, daily_limit: 100}
        - {ip: 192.0.2.11, vmta: acme-2, hostname: mta2.acme-mail.com, daily_limit: 50}
    """
    extra = f"""
    http: {{admin_listen: "127.0.0.1:{admin}", public_listen: "127.0.0.1:0",
            admin_tokens: [{{name: ops, token_sha256: "{digest("ops-token")}"}}]}}
    mailwizz:
      database: "{mailwizz_db.url}"
      servers: [{{server_id: 3, tenant: acme}}]
      margin: 0
      interval: 0.2
    """
    # Only the SMTP port is chosen ahead (the test sends to it); the public listener takes
    # any free port when it binds, so it cannot be raced for.
    smtp_listen = config_text(tmp_path, sink.port).replace('"127.0.0.1:0"', f'"127.0.0.1:{smtp}"')
    text = with_pools(smtp_listen, pools, extra)
    path = tmp_path / "sluice.yaml"
    path.write_text(text)
    await mailwizz_db.add_server(3)
    d = await Daemon.start(["run", "-c", str(path)], cwd=tmp_path)
    try:
        status, hourly, daily = await until_server(mailwizz_db, 3, lambda row: row[2] != 0)
        assert (status, daily) == ("active", 150), (status, hourly, daily)
        assert hourly > 0  # never 0: MailWizz reads 0 as no limit
        # A message Sluice relays (not counted by MailWizz) leaves one less for MailWizz.
        assert (await send(smtp))[0] == 250
        seen = await until_server(mailwizz_db, 3, lambda row: row[2] != 150)
        assert seen[2] == 149, seen
        # The daemon hands the sync to the status page: its last round, per server.
        async with aiohttp.ClientSession(base_url=f"http://127.0.0.1:{admin}") as http:
            r = await http.post("/login", data={"token": "ops-token"}, allow_redirects=False)
            cookie = {"Cookie": f"{COOKIE}={r.cookies[COOKIE].value}"}
            page = await (await http.get("/", headers=cookie)).text()
        row = page.split('data-mailwizz-server="3"')[1].split("</tr>")[0]
        assert "active" in row and "last round" in page
    finally:
        await d.stop()
