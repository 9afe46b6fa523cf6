"""`sluice --version` and `sluice migrate [--check]` on a fresh and a migrated store."""

from __future__ import annotations

import secrets
from pathlib import Path

import asyncpg
import pytest

from policy.store.versions import latest
from tests.e2e.test_cli_startup import config, sluice
from tests.support import backends


async def test_version(tmp_path: Path) -> None:
    code, out, _ = await sluice("--version", cwd=tmp_path)
    assert code == 0
    assert out.startswith("sluice ") and out.split()[1][0].isdigit()


async def _check_then_migrate(path: Path, cwd: Path) -> None:
    code, out, err = await sluice("migrate", "--check", "-c", str(path), cwd=cwd)
    assert code == 1, (out, err)
    assert f"schema version 0, this Sluice needs {latest()}" in out and "pending" in out
    code, out, err = await sluice("migrate", "-c", str(path), cwd=cwd)
    assert code == 0, err
    assert f"schema version 0 -> {latest()}" in out
    code, out, err = await sluice("migrate", "--check", "-c", str(path), cwd=cwd)
    assert code == 0, (out, err)
    assert f"schema version {latest()}, up to date" in out


async def test_migrate_check_on_a_fresh_then_migrated_sqlite(tmp_path: Path) -> None:
    path = config(tmp_path, database="sqlite:///var/m.db")
    await _check_then_migrate(path, tmp_path)
    assert (tmp_path / "var" / "m.db").exists()


async def test_migrate_check_leaves_a_fresh_sqlite_uncreated(tmp_path: Path) -> None:
    path = config(tmp_path, database=f"sqlite:///{tmp_path}/fresh.db")
    code, _, _ = await sluice("migrate", "--check", "-c", str(path), cwd=tmp_path)
    assert code == 1
    assert not (tmp_path / "fresh.db").exists()


async def test_migrate_check_on_a_fresh_then_migrated_postgresql(tmp_path: Path) -> None:
    host, port = backends.host_port(backends.PG_DSN, 5432)
    if not backends.reachable(host, port):
        backends.unavailable(f"PostgreSQL at {host}:{port}")
    name = f"sluice_migrate_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(backends.PG_DSN)
    try:
        await admin.execute(f"CREATE DATABASE {name}")
        url = backends.PG_DSN.rsplit("/", 1)[0] + f"/{name}"
        await _check_then_migrate(config(tmp_path, database=url), tmp_path)
    finally:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin.close()


@pytest.mark.parametrize("args", [["migrate", "--check"], ["migrate"]])
async def test_migrate_names_a_refused_database(tmp_path: Path, args: list[str]) -> None:
    path = config(tmp_path, database="postgresql://no_such_role@127.0.0.1:5432/test")
    code, _, err = await sluice(*args, "-c", str(path), cwd=tmp_path)
    assert code == 1 and "Traceback" not in err
    assert 'role "no_such_role" does not exist' in err
