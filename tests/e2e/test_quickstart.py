"""The README's first command, from a clean clone: install, run, relay one message."""

import asyncio
import os
import shutil
import signal
import subprocess
from pathlib import Path

import aiosmtplib
import pytest

from tests.support import backends
from tests.support.daemon import require_free
from tests.support.harness import message

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


async def test_run_script_from_a_clean_clone(tmp_path):
    if not (ROOT / ".git").exists() or shutil.which("git") is None:
        backends.unavailable("not a git checkout with git installed")
    await require_free(2525, 8025, 8080)
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    env = {k: v for k, v in os.environ.items() if k not in ("SLUICE_CONFIG", "VIRTUAL_ENV")}
    proc = await asyncio.create_subprocess_exec(
        "bash",
        "scripts/run.sh",
        cwd=clone,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    log: list[str] = []
    try:

        async def until_ready() -> None:
            assert proc.stdout is not None
            async for raw in proc.stdout:
                log.append(raw.decode(errors="replace"))
                if "sluice ready" in log[-1]:
                    return
            raise AssertionError("run.sh exited:\n" + "".join(log))

        await asyncio.wait_for(until_ready(), 600)
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=2525, start_tls=False)
        await client.connect()
        await client.sendmail(
            "me@example.org",
            ["someone@example.com"],
            message(to="someone@example.com", sender="me@example.org"),
        )
        await client.quit()
        [eml] = list((clone / "var" / "outbox").glob("*.eml"))
        assert b"DKIM-Signature:" in eml.read_bytes()
        os.kill(proc.pid, signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 30) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
