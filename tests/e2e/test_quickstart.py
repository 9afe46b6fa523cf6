"""The README's first command, from a clean clone: install, run, relay one message.

Then the README's swaks line as printed, and swaks's conversation from a
host name without a dot (its default sender is user@<host name>): each is
answered 250, the message going out unsigned with a warning.
"""

import asyncio
import email.utils
import os
import shlex
import shutil
import signal
import socket
import subprocess
from pathlib import Path

import aiosmtplib
import pytest

from tests.support import backends
from tests.support.daemon import require_free
from tests.support.harness import message
from tests.support.rawsmtp import RawSMTP

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
        await readme_swaks_line()
        await swaks_conversation(socket.gethostname().split(".")[0] or "vm")
        emls = [p.read_bytes() for p in (clone / "var" / "outbox").glob("*.eml")]
        assert len(emls) == 3 if shutil.which("swaks") else 2
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.stdout is not None
        log.append((await asyncio.wait_for(proc.stdout.read(), 30)).decode(errors="replace"))
        assert await asyncio.wait_for(proc.wait(), 30) == 0
        assert "sending unsigned: domain" in "".join(log)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def readme_swaks_line() -> None:
    """The README's swaks line as printed, when swaks is installed."""
    [line] = [x for x in (ROOT / "README.md").read_text().splitlines() if x.startswith("swaks ")]
    if shutil.which("swaks") is None:
        return  # swaks_conversation speaks for it
    swaks = await asyncio.create_subprocess_exec(
        *shlex.split(line), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await asyncio.wait_for(swaks.communicate(), 60)
    assert swaks.returncode == 0, out.decode(errors="replace")
    assert "<-  250 2.0.0" in out.decode(errors="replace")


async def swaks_conversation(host: str) -> None:
    """What swaks sends with its defaults on a machine called `host` (no dot)."""
    assert "." not in host
    smtp = await RawSMTP.open(2525)
    try:
        assert (await smtp.cmd(f"EHLO {host}".encode())).startswith("250")
        assert (await smtp.cmd(f"MAIL FROM:<user@{host}>".encode())).startswith("250")
        assert (await smtp.cmd(b"RCPT TO:<someone@example.com>")).startswith("250")
        assert (await smtp.cmd(b"DATA")).startswith("354")
        date = email.utils.formatdate(localtime=True)
        body = (
            f"Date: {date}\r\nTo: someone@example.com\r\nFrom: user@{host}\r\n"
            f"Subject: test {date}\r\nMessage-Id: <20260101000000.1@{host}>\r\n"
            "X-Mailer: swaks v20201014.0 jetmore.org/swaks\r\n\r\n"
            "This is a test mailing\r\n\r\n.\r\n"
        )
        reply = await smtp.send_raw(body.encode())
        assert reply.startswith("250"), reply
        await smtp.cmd(b"QUIT")
    finally:
        await smtp.close()
