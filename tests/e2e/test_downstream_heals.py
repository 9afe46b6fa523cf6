"""PowerMTA away, then back: readiness heals with no message to try, and the log says so once.

The daemon over real sockets, with the fallback spool on (PowerMTA away is
"degraded", not 503) and its delivery rounds an hour apart, so nothing but
the breaker's own probe can notice that the sink is back.
"""

import asyncio
import time
from pathlib import Path

import aiohttp

from tests.support.daemon import Daemon, free_port
from tests.support.harness import config_text, make_keys, send
from tests.support.sink import Sink

RESET = 0.5  # downstream.breaker_reset in config_text


async def readiness(http: aiohttp.ClientSession) -> tuple[int, dict]:
    async with http.get("/readyz") as r:
        return r.status, await r.json()


async def until_status(http: aiohttp.ClientSession, status: str, within: float) -> float:
    """Poll /readyz until its status is `status`; the seconds it took."""
    started = time.monotonic()
    while True:
        code, body = await readiness(http)
        if body["status"] == status:
            return time.monotonic() - started
        if time.monotonic() - started > within:
            raise AssertionError(f"/readyz not {status} within {within}s: {code} {body}")
        await asyncio.sleep(0.05)


async def test_readiness_follows_the_downstream_back_without_a_message(tmp_path: Path) -> None:
    sink = await Sink().start()
    smtp, admin = free_port(), free_port()
    text = config_text(tmp_path, sink.port, breaker_failures="1")
    text = text.replace('"127.0.0.1:0"', f'"127.0.0.1:{smtp}"')
    text += (
        f'http: {{admin_listen: "127.0.0.1:{admin}", public_listen: "127.0.0.1:{free_port()}"}}\n'
        "spool: {retry_interval: 3600}\n"
    )
    (tmp_path / "sluice.yaml").write_text(text)
    make_keys(tmp_path)
    daemon = await Daemon.start(["run", "-c", str(tmp_path / "sluice.yaml")], cwd=tmp_path)
    http = aiohttp.ClientSession(f"http://127.0.0.1:{admin}")
    try:
        await until_status(http, "ready", 10)
        await sink.stop()  # PowerMTA goes away
        code, reply = await send(smtp, to="kept@example.net")
        assert (code, reply.startswith("2.0.0 queued as")) == (250, True), reply
        code, body = await readiness(http)
        assert (code, body["status"]) == (200, "degraded"), body
        assert "breaker is open" in body["checks"]["downstream"], body

        await sink.start(sink.port)  # back, and no message comes to try it
        took = await until_status(http, "ready", 10 * RESET)
        assert took < 6 * RESET, f"ready only after {took:.1f}s"  # a few probe intervals

        name = f"downstream 127.0.0.1:{sink.port}"
        down = [line for line in daemon.log if f"{name} down:" in line]
        back = [line for line in daemon.log if f"{name} back after" in line]
        assert len(down) == 1 and down[0].endswith(f"{name} down: connection refused"), down
        assert len(back) == 1, back
        assert sink.messages == []  # the spooled message waits for its round: it did not heal us
    finally:
        await http.close()
        await daemon.stop()
        await sink.stop()
