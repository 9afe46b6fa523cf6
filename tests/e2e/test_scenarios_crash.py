"""Kill -9 at injected points, then a restart: every operation exactly once at the sink.

And two processes sharing one PostgreSQL (and Redis for the quota) run one
scenario of 5,000 contacts: no duplicate, none missing.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections import Counter
from pathlib import Path

import pytest

from scheduler.scenarios import crash
from tests.support import backends
from tests.support.daemon import ROOT
from tests.support.sink import Sink

COUNT = 5


async def worker(
    folder: Path, sink: Sink, database: str, count: int, name: str, point: str = "", redis: str = ""
) -> tuple[int | None, str]:
    env = {k: v for k, v in os.environ.items() if k != crash.VARIABLE}
    if point:
        env[crash.VARIABLE] = point
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.support.scenario_worker", str(folder), str(sink.port),
        database, str(count), name, *([redis] if redis else []), cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=300)
    return proc.returncode, out.decode(errors="replace")


@pytest.mark.parametrize("point", crash.POINTS)
async def test_kill_at_a_point_then_restart_sends_each_once(tmp_path: Path, sink: Sink, point):
    sink.delay = 0
    database = f"sqlite:///{tmp_path}/sluice.db"
    code, out = await worker(tmp_path, sink, database, COUNT, "first", point)
    assert code == 137, out
    code, out = await worker(tmp_path, sink, database, COUNT, "second")
    assert code == 0, out
    got = Counter(r for m in sink.messages for r in m.recipients)
    assert got == Counter({f"r{i:05d}@example.net": 1 for i in range(COUNT)})


async def test_two_processes_on_one_postgresql_5000_contacts(
    tmp_path: Path, sink: Sink, pg_dsn: str, redis_client: object, redis_prefix: str
):
    sink.delay = 0
    redis = f"{backends.REDIS_URL}|{redis_prefix}"
    for sub in ("setup", "a", "b"):
        (tmp_path / sub).mkdir()
    code, out = await worker(tmp_path / "setup", sink, pg_dsn, 5000, "setup", redis=redis)
    assert code == 0, out
    results = await asyncio.gather(
        *(worker(tmp_path / n, sink, pg_dsn, 5000, n, redis=redis) for n in ("a", "b"))
    )
    assert all(code == 0 for code, _ in results), results
    shares = [int(out.rsplit("handled ", 1)[1].split()[0]) for _, out in results]
    assert all(n > 0 for n in shares), shares  # both took part
    got = Counter(r for m in sink.messages for r in m.recipients)
    duplicates = sum(n - 1 for n in got.values())
    missing = 5000 - len(got)
    assert (duplicates, missing) == (0, 0)
