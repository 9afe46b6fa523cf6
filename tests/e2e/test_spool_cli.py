"""`sluice spool list|delete|flush` on a folder a dead process left behind."""

import asyncio
import json
import os
import sys
import time
from pathlib import Path

from conf.schema.spool import SpoolSettings
from gateway.spool import Entry, Spool, new_id
from tests.support.daemon import ROOT
from tests.support.harness import config_text, make_keys, message
from tests.support.sink import Sink


async def sluice(*args: str, cwd: Path) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway.cli",
        *args,
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def orphan(root: Path, count: int) -> list[str]:
    """A spool folder whose process died (its lock let go) holding ``count`` messages."""
    spool = Spool(SpoolSettings(dir=str(root)), owner="gone-1")
    spool.open()
    ids = []
    for n in range(count):
        to = f"r{n}@example.net"
        entry = Entry(
            id=new_id(),
            at=time.time(),
            mail_from="news@acme-mail.com",
            recipients=(to,),
            tenant="acme",
            ip="192.0.2.10",
            vmta="acme-1",
            message_id=f"<m{n}@acme-mail.com>",
        )
        ids.append(spool.put(entry, message(to=to)).id)
    assert spool._lock_fd is not None
    os.close(spool._lock_fd)
    return ids


async def test_list_delete_then_flush_an_orphaned_spool(tmp_path: Path) -> None:
    sink = await Sink().start()
    try:
        make_keys(tmp_path)
        (tmp_path / "sluice.yaml").write_text(config_text(tmp_path, sink.port))
        root = tmp_path / "spool"
        ids = orphan(root, 3)
        code, out, _ = await sluice("spool", "list", "--dir", str(root), "--json", cwd=tmp_path)
        rows = [json.loads(line) for line in out.splitlines()]
        assert code == 0 and [r["id"] for r in rows] == ids
        assert {(r["owner"], r["state"], r["vmta"]) for r in rows} == {
            ("gone-1", "ready", "acme-1")
        }

        code, out, _ = await sluice("spool", "delete", ids[1], "--dir", str(root), cwd=tmp_path)
        assert code == 0 and "deleted" in out
        code, _, err = await sluice("spool", "delete", "nope", "--dir", str(root), cwd=tmp_path)
        assert code == 1 and "no such entry" in err

        config = str(tmp_path / "sluice.yaml")
        code, out, err = await sluice(
            "spool", "flush", "-c", config, "--dir", str(root), cwd=tmp_path
        )
        assert code == 0, out + err
        assert "0 message(s) left" in out
        assert sorted(m.recipients[0] for m in sink.messages) == [
            "r0@example.net",
            "r2@example.net",
        ]
        code, out, _ = await sluice("spool", "list", "--dir", str(root), cwd=tmp_path)
        assert code == 0 and out.startswith("0 message(s)")
    finally:
        await sink.stop()
