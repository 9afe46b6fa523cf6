"""A full or read-only state directory: no partial files left, and /readyz says not ready."""

import errno
import os
from types import SimpleNamespace

import aiohttp
import pytest
from aiohttp import web

from admin.app import make_app
from conf.schema.spool import SpoolSettings
from gateway import outbox, parts
from gateway import spool as spool_mod
from tests.support.harness import config_text, send, start_gateway_from


def outbox_config(tmp_path, sink_port: int) -> str:
    text = config_text(tmp_path, sink_port)
    return text.replace("downstream: {", f'downstream: {{sink: "{tmp_path}/outbox", ', 1)


async def test_a_failed_outbox_write_leaves_no_file(tmp_path, sink, monkeypatch):
    gw = await start_gateway_from(tmp_path, outbox_config(tmp_path, sink.port))
    try:
        assert (await send(gw.port, to="first@example.net"))[0] == 250
        calls = []

        def full(fd: int) -> None:
            calls.append(fd)
            if len(calls) == 2:  # the envelope's: the message itself is already on disk
                raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(outbox.os, "fsync", full)
        code, _ = await send(gw.port, to="second@example.net")
        assert code == 451
        names = sorted(p.name for p in (tmp_path / "outbox").iterdir())
        assert len(names) == 2 and not any(n.endswith(".tmp") for n in names), names
        assert {n.rsplit(".", 1)[1] for n in names} == {"eml", "json"}  # only the first pair
    finally:
        await gw.close()


def statvfs_with(**changes):
    real = os.statvfs

    def fake(path):
        st = real(path)
        values = {name: getattr(st, name) for name in ("f_bavail", "f_frsize", "f_flag")}
        return SimpleNamespace(**(values | changes))

    return fake


async def readyz(sink: outbox.OutboxSink) -> tuple[int, dict]:
    app = make_app({"downstream": sink.ping})
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/readyz") as r:
                return r.status, await r.json()
    finally:
        await runner.cleanup()


async def test_readyz_is_not_ready_on_a_full_or_read_only_state_directory(tmp_path, monkeypatch):
    sink = outbox.OutboxSink(tmp_path / "outbox")
    assert (await readyz(sink))[0] == 200
    monkeypatch.setattr(outbox.os, "statvfs", statvfs_with(f_bavail=10))
    status, body = await readyz(sink)
    assert status == 503 and "full" in body["checks"]["downstream"], body
    monkeypatch.setattr(outbox.os, "statvfs", statvfs_with(f_flag=os.ST_RDONLY))
    status, body = await readyz(sink)
    assert status == 503 and "read-only" in body["checks"]["downstream"], body


async def test_a_spool_on_a_full_disk_is_not_ready_even_with_powermta_up(tmp_path, monkeypatch):
    kept = spool_mod.Spool(SpoolSettings(dir=str(tmp_path / "spool")))
    kept.open()
    try:
        up = parts.Relay(SimpleNamespace(downstream=SimpleNamespace(ping=_answers)))  # type: ignore[arg-type]
        await parts._spool_room(kept, up)  # room, disk fine: ready
        monkeypatch.setattr(outbox.os, "statvfs", statvfs_with(f_bavail=10))
        with pytest.raises(OSError, match="full"):
            await parts._spool_room(kept, up)
    finally:
        kept.close()


async def _answers() -> None:
    return None
