"""A PostgreSQL that stops answering (packets dropped, nothing refused), over the real daemon."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import pytest

from tests.e2e.test_outages import through
from tests.support import backends
from tests.support.daemon import Daemon, free_port
from tests.support.harness import config_text, make_keys, send
from tests.support.proxy import Proxy
from tests.support.sink import Sink
from tests.support.wait import until

pytestmark = pytest.mark.slow


async def relayed_to(pg_dsn: str) -> list[str]:
    conn = await asyncpg.connect(pg_dsn)
    try:
        rows = await conn.fetch("SELECT recipients FROM events WHERE kind = 'relayed'")
    finally:
        await conn.close()
    return sorted(r["recipients"] for r in rows)


def write_config(tmp_path: Path, sink: Sink, dsn: str) -> tuple[Path, int]:
    smtp = free_port()
    text = config_text(tmp_path, sink.port).replace('"127.0.0.1:0"', f'"127.0.0.1:{smtp}"')
    text = text.replace(f'"sqlite:///{tmp_path}/sluice.db"', f'"{dsn}"')
    text += (
        f'http: {{admin_listen: "127.0.0.1:{free_port()}",'
        f' public_listen: "127.0.0.1:{free_port()}"}}\n'
        f"events_journal: {tmp_path / 'journal'}\n"
    )
    path = tmp_path / "sluice.yaml"
    path.write_text(text)
    make_keys(tmp_path)
    return path, smtp


async def test_recovery_and_shutdown_with_the_database_blackholed(
    tmp_path: Path, sink: Sink, pg_dsn: str
):
    target = urlsplit(backends.PG_DSN)
    proxy = await Proxy(target.hostname or "127.0.0.1", target.port or 5432).start()
    path, smtp = write_config(tmp_path, sink, through(pg_dsn, proxy))
    daemon = await Daemon.start(["run", "-c", str(path)], cwd=tmp_path)
    again = None
    try:
        assert (await send(smtp, to="before@example.net"))[0] == 250
        # Blackholed, then back: the pool gives up on the dead connections and
        # reconnects on its own (it took 61 s with asyncpg's defaults).
        proxy.blackhole()
        assert (await send(smtp, to="during@example.net"))[0] == 250
        proxy.holed = False
        await until(
            lambda: relayed_to(pg_dsn),
            done=lambda r: "during@example.net" in r,
            timeout=30,
            every=0.5,
            what="the outage's event written once the database answers again",
        )
        # Blackholed at shutdown: the daemon neither hangs nor drops its events.
        proxy.blackhole()
        for name in ("late1", "late2", "late3"):
            assert (await send(smtp, to=f"{name}@example.net"))[0] == 250
        daemon.signal(signal.SIGTERM)
        assert await daemon.wait(timeout=30) == 0
        [kept] = list((tmp_path / "journal").glob("*.jsonl"))
        kept_to = sorted(
            json.loads(line)["recipients"][0] for line in kept.read_text().splitlines()
        )
        assert kept_to == ["late1@example.net", "late2@example.net", "late3@example.net"]
        assert any("events kept in" in line for line in daemon.log), "\n".join(daemon.log)

        # The next start writes them, and only once.
        await proxy.cut()
        proxy.holed = False
        await proxy.start()
        path, smtp = write_config(tmp_path, sink, through(pg_dsn, proxy))
        again = await Daemon.start(["run", "-c", str(path)], cwd=tmp_path)
        assert not list((tmp_path / "journal").glob("*.jsonl"))
        relayed = await relayed_to(pg_dsn)
        for name in ("late1", "late2", "late3"):
            assert relayed.count(f"{name}@example.net") == 1
        again.signal(signal.SIGTERM)
        assert await again.wait(timeout=30) == 0
    finally:
        await daemon.stop()
        if again is not None:
            await again.stop()
        await proxy.cut()
