"""One process running the scenario engine over the in-process gateway, until done.

``python -m tests.support.scenario_worker FOLDER SINK_PORT DATABASE COUNT NAME [REDIS]``:
the first run saves, starts and enrolls a one-step scenario for COUNT contacts
(NAME ``setup`` does only that); every run then sends until no enrollment is
active (or 120 s pass). With REDIS (``url|prefix``) the quota counters are shared. The crash
tests set SLUICE_TEST_CRASH_AT so the engine ends this process at that point
(exit 137, as a kill -9), then run it again.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

from gateway import submit as submit_mod
from scheduler.scenarios import lifecycle
from scheduler.scenarios.engine import Engine, EngineSettings
from tests.support.harness import config_text, start_gateway_from
from tests.support.scenarios import MemoryCatalog, save, template

BODY = {
    "name": "once",
    "from": "Anna <anna@acme-mail.com>",
    "steps": [{"id": "hello", "trigger": "entry", "template": "hello"}],
}


async def main(
    folder: Path, sink_port: int, database: str, count: int, name: str, redis: str = ""
) -> int:
    text = config_text(folder, sink_port).replace(
        f'database: "sqlite:///{folder}/sluice.db"', f'database: "{database}"'
    )
    if redis:
        url, prefix = redis.split("|")
        text += f"redis: {url}\nredis_prefix: '{prefix}'\n"
    gw = await start_gateway_from(folder, text)
    try:
        catalog = MemoryCatalog(templates={"hello": template("hello")})
        emails = [f"r{i:05d}@example.net" for i in range(count)]
        catalog.add("acme", *emails)
        if await gw.store.scenario("acme", "once") is None:
            await save(gw.store, BODY)
            await lifecycle.act(gw.store, "acme", "once", "start", time.time())
            for i in range(0, count, 1000):
                await lifecycle.enroll(gw.store, catalog, "acme", "once", emails[i : i + 1000])
        if name == "setup":
            return 0
        config = EngineSettings(batch=100, concurrency=1 if count < 100 else 8, lease=2.0)
        engine = Engine(
            gw.store, submit_mod.build(lambda: gw.rt), catalog, lambda: gw.rt.settings,
            config=config, name=name,
        )  # fmt: skip
        deadline, handled = time.monotonic() + 120, 0
        while time.monotonic() < deadline:
            handled += await engine.round()
            counts = await gw.store.enrollment_counts("acme", "once")
            if counts and not counts.get("active"):
                print(f"handled {handled}")
                return 0
            await asyncio.sleep(0.05)
        return 1
    finally:
        await gw.close()


if __name__ == "__main__":
    folder, port, database, count, name = sys.argv[1:6]
    redis = sys.argv[6] if len(sys.argv) > 6 else ""
    sys.exit(asyncio.run(main(Path(folder), int(port), database, int(count), name, redis)))
