"""Start-up failures in one or two lines, and the CLI's checks of what it is given.

Each runs the real `sluice` command in a subprocess, as an operator would.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import sys
from pathlib import Path

from tests.support.daemon import ROOT, free_port
from tests.support.sink import Sink


async def sluice(*args: str, cwd: Path, stdin: bytes | None = None) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway.cli",
        *args,
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(stdin or b""), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def config(
    tmp: Path,
    *,
    database: str = "sqlite:///var/sluice.db",
    redis: str = "null",
    smtp_port: int | None = None,
    downstream: str = "{sink: var/outbox}",
    extra: str = "",
) -> Path:
    path = tmp / "sluice.yaml"
    path.write_text(
        f"""
database: "{database}"
redis: {redis}
downstream: {downstream}
smtp: {{listen: "127.0.0.1:{smtp_port or free_port()}"}}
http: {{admin_listen: "127.0.0.1:{free_port()}", public_listen: "127.0.0.1:{free_port()}"}}
tenants:
  - name: acme
    pool: acme
    trusted_networks: ["127.0.0.0/8"]
    sender_domains: ["acme-mail.com"]
pools:
  acme:
    - {{ip: 127.0.0.1, vmta: acme-1, hostname: mta1.acme-mail.com}}
{extra}"""
    )
    return path


INFO = re.compile(r"^\d{4}-\d\d-\d\d [\d:,]+ INFO ")


def short(err: str) -> None:
    """A start-up failure an operator reads at a glance: no traceback, one or two lines
    (after the INFO lines of what did start)."""
    assert "Traceback" not in err, err
    told = [line for line in err.strip().splitlines() if not INFO.match(line)]
    assert 1 <= len(told) <= 2, err


async def test_a_refused_postgresql_role_is_two_lines(tmp_path: Path) -> None:
    path = config(tmp_path, database="postgresql://no_such_role@127.0.0.1:5432/test")
    code, _, err = await sluice("run", "-c", str(path), cwd=tmp_path)
    assert code != 0
    short(err)
    assert 'role "no_such_role" does not exist' in err
    assert "README: Install" in err


async def test_a_refused_redis_is_two_lines(tmp_path: Path) -> None:
    path = config(tmp_path, redis=f'"redis://127.0.0.1:{free_port()}/0"')
    code, _, err = await sluice("run", "-c", str(path), cwd=tmp_path)
    assert code != 0
    short(err)
    assert "start Redis" in err
    # The SQLite URL sqlite:///var/sluice.db is relative: the log says where it is.
    assert f"INFO sluice.daemon: database: SQLite file {tmp_path}/var/sluice.db\n" in err


async def test_a_port_in_use_is_two_lines(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        path = config(tmp_path, smtp_port=taken.getsockname()[1])
        code, _, err = await sluice("run", "-c", str(path), cwd=tmp_path)
    assert code != 0
    short(err)
    assert "address already in use" in err and "smtp.listen" in err


async def test_an_unreadable_key_file_is_one_line_per_key(tmp_path: Path) -> None:
    key = tmp_path / "k.pem"
    key.write_text("not a key")
    key.chmod(0)
    extra = f"""
    dkim:
      - {{domain: acme-mail.com, selector: s1, key_file: {key}}}
"""
    path = config(tmp_path)
    text = path.read_text().replace(
        '    sender_domains: ["acme-mail.com"]\n',
        '    sender_domains: ["acme-mail.com"]\n' + extra.lstrip("\n"),
    )
    path.write_text(text)
    code, _, err = await sluice("run", "-c", str(path), cwd=tmp_path)
    assert code == 2
    assert "Traceback" not in err
    assert "key_file" in err and "k.pem" in err


async def test_hash_password_without_a_terminal_reads_stdin(tmp_path: Path) -> None:
    code, out, err = await sluice("hash-password", cwd=tmp_path, stdin=b"s3cret-enough\n")
    assert code == 0, err
    assert out.startswith("scrypt$") or "$" in out
    assert "EOFError" not in err


async def test_hash_token_refuses_a_short_token(tmp_path: Path) -> None:
    code, out, err = await sluice("hash-token", "--token-stdin", cwd=tmp_path, stdin=b"short\n")
    assert code == 1 and out == ""
    assert "at least 32" in err
    code, out, _ = await sluice("hash-token", "--token-stdin", cwd=tmp_path, stdin=b"x" * 32)
    assert code == 0 and len(out.strip()) == 64


async def test_check_config_connect_reports_each_service(tmp_path: Path) -> None:
    sink = await Sink().start()
    try:
        dead = free_port()
        path = config(
            tmp_path,
            redis='"redis://127.0.0.1:6379/0"',
            downstream=f"{{host: 127.0.0.1, port: {sink.port}}}",
            extra=f"""mailwizz:
  database: "mysql://mw:pw@127.0.0.1:{dead}/mailwizz"
  timeout: 3
""",
        )
        code, out, err = await sluice("check-config", "--connect", "-c", str(path), cwd=tmp_path)
    finally:
        await sink.stop()
    assert code == 1, (out, err)
    lines = dict(line.split(": ", 1) for line in out.splitlines()[1:])
    assert lines["database"].startswith("ok")
    assert lines["redis"].startswith("ok")
    assert lines["downstream"] == f"ok (127.0.0.1:{sink.port})"
    assert lines["mailwizz"].startswith(f"FAILED (127.0.0.1:{dead}/mailwizz): ")


async def test_check_config_connect_names_a_refused_database(tmp_path: Path) -> None:
    path = config(tmp_path, database="postgresql://no_such_role@127.0.0.1:5432/test")
    code, out, err = await sluice("check-config", "--connect", "-c", str(path), cwd=tmp_path)
    assert code == 1
    assert "database: FAILED (postgresql://no_such_role@127.0.0.1:5432/test): role" in out
    assert "Traceback" not in err


async def test_check_config_connect_reads_the_schema_and_migrates_nothing(tmp_path: Path) -> None:
    path = config(tmp_path)
    (tmp_path / "var").mkdir()
    code, out, _ = await sluice("check-config", "--connect", "-c", str(path), cwd=tmp_path)
    assert code == 0, out
    assert "database: ok (sqlite:///var/sluice.db): no schema yet" in out
    assert not (tmp_path / "var" / "sluice.db").exists()  # a check creates nothing
    code, out, _ = await sluice("migrate", "-c", str(path), cwd=tmp_path)
    assert code == 0, out
    code, out, _ = await sluice("check-config", "--connect", "-c", str(path), cwd=tmp_path)
    assert "database: ok (sqlite:///var/sluice.db): schema " in out and "up to date" in out
