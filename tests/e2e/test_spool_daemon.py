"""The daemon's spool across a kill -9: nothing accepted is lost; operators see it meanwhile."""

import asyncio
import os
import re
import signal
import time
from pathlib import Path

import aiohttp

from admin.auth import digest
from tests.support.daemon import Daemon, free_port
from tests.support.harness import config_text, make_keys, send
from tests.support.sink import Sink

TOKEN = "viewer-secret-token"


async def poll(done, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await done():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("condition not met in time")


async def test_kill_9_with_a_spool_then_restart_delivers_each_message_once(tmp_path: Path) -> None:
    sink = await Sink().start()
    await sink.stop()  # PowerMTA is down
    smtp, admin = free_port(), free_port()
    text = config_text(tmp_path, sink.port).replace('"127.0.0.1:0"', f'"127.0.0.1:{smtp}"')
    text += (
        f'http: {{admin_listen: "127.0.0.1:{admin}", public_listen: "127.0.0.1:{free_port()}",\n'
        f'       admin_tokens: [{{name: v, token_sha256: "{digest(TOKEN)}", role: viewer}}]}}\n'
    )
    (tmp_path / "sluice.yaml").write_text(text)
    make_keys(tmp_path)
    args = ["run", "-c", str(tmp_path / "sluice.yaml")]
    daemon = await Daemon.start(args, cwd=tmp_path)
    http = aiohttp.ClientSession(
        f"http://127.0.0.1:{admin}", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    sent = [f"kept-{n}@example.net" for n in range(20)]
    try:
        for to in sent:
            code, reply = await send(smtp, to=to)
            assert code == 250 and re.match(r"2\.0\.0 queued as \S+$", reply), reply
        async with http.get("/readyz") as r:
            body = await r.json()
        # PowerMTA away with room in the spool: still in service, the failure named.
        assert (r.status, body["status"]) == (200, "degraded"), body
        assert body["checks"]["spool"] == "ok" and body["checks"]["downstream"] != "ok"
        async with http.get("/api/spool") as r:
            status = await r.json()
        assert (r.status, status["enabled"], status["messages"]) == (200, True, 20), status
        async with http.get("/metrics") as r:
            scraped = await r.text()
        assert re.search(r"^sluice_spool_messages(\{[^}]*\})? 20\.0$", scraped, re.M), scraped
        await daemon.stop()  # SIGKILL: no shutdown, the spool folder is orphaned
        await http.close()

        await sink.start(sink.port)  # PowerMTA is back
        daemon = await Daemon.start(args, cwd=tmp_path)  # a new process adopts the folder

        async def all_arrived() -> bool:
            return len(sink.messages) >= len(sent)

        await poll(all_arrived)
        await daemon.wait_for_log("adopted 20 message(s)")
        assert sorted(m.recipients[0] for m in sink.messages) == sorted(sent)
        files = [
            p for p in (tmp_path / "var" / "spool").rglob("*") if p.suffix in (".msg", ".sending")
        ]
        assert files == []
    finally:
        await http.close()
        await daemon.stop()
        await sink.stop()


async def test_a_worker_killed_with_a_spool_its_messages_go_through_the_survivor(
    tmp_path: Path, sink: Sink
) -> None:
    from tests.e2e.test_daemon import start_two_workers

    await sink.stop()  # PowerMTA is down while the workers take the mail
    d, smtp, _, pids = await start_two_workers(tmp_path, sink.port)
    try:
        [worker] = pids - {d.proc.pid}
        sent = [f"w{n}@example.net" for n in range(40)]
        results = await asyncio.gather(*(send(smtp, to=to) for to in sent))
        assert all(code == 250 and "queued as" in reply for code, reply in results), results
        root = tmp_path / "var" / "spool"
        [mine] = [f for f in root.iterdir() if f.is_dir() and f.name.endswith(f"-{worker}")]
        assert any(mine.iterdir()), "the kernel gave the worker no connection"
        os.kill(worker, signal.SIGKILL)
        await sink.start(sink.port)

        async def all_arrived() -> bool:
            return len(sink.messages) >= len(sent)

        await poll(all_arrived, within=60)
        assert sorted(m.recipients[0] for m in sink.messages) == sorted(sent)
        assert not mine.exists()  # adopted by the survivor
    finally:
        await d.stop()
