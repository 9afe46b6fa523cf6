"""AI first lines: lines per second through a local Anthropic API at the configured concurrency.

The model is ``tests/support/anthropic_server.py`` answering each message after
``--latency`` seconds (a small model's line takes about that), so the figure is
the Personalizer's own throughput: singles under ``ai.max_concurrency``, then one
Message Batch (created, polled, results matched by ``custom_id``), then the same
contacts again, every line from the cache (no request). SQLite store in a temp dir.

    .venv/bin/python bench/personalization.py                  # 200 contacts, 0.5 s
    .venv/bin/python bench/personalization.py --contacts 400 --latency 1 --concurrency 8
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from conf.schema import EnvText
from conf.schema.ai import AiSettings
from policy.personalization.prompt import Brief
from policy.scenarios.contacts import Contact
from policy.store import open_store
from scheduler.personalization import Personalizer
from tests.support.anthropic_server import FakeAnthropic

BRIEF = Brief("intro", "Say you enjoyed their cooking blog.", "J'espère que vous allez bien.")


def contacts(prefix: str, n: int) -> list[Contact]:
    return [
        Contact("acme", f"{prefix}{i}@blog{i}.fr", f"Anne{prefix}{i}", "Martin", language="fr",
                country="FR", category="blogger", custom={"blog": f"Cuisine {prefix}{i}"})
        for i in range(n)
    ]  # fmt: skip


async def one_run(args: argparse.Namespace, run: int) -> dict[str, float]:
    fake = FakeAnthropic(latency=args.latency)
    await fake.start()
    with tempfile.TemporaryDirectory(prefix="sluice-bench-") as tmp:
        store = open_store(f"sqlite:///{tmp}/s.db")
        await store.open()
        base = {"api_key": EnvText("sk-bench"), "base_url": fake.base_url, "max_retries": 0}
        cfg = AiSettings(**base, max_concurrency=args.concurrency, batch_poll=0.2,
                         batch_threshold=args.contacts + 1)  # fmt: skip
        batched = cfg.model_copy(update={"batch_threshold": 2})
        out = {}
        try:
            for name, settings, people in (
                ("singles", cfg, contacts(f"s{run}-", args.contacts)),
                ("batch", batched, contacts(f"b{run}-", args.contacts)),
                ("cached", cfg, contacts(f"s{run}-", args.contacts)),
            ):
                p = Personalizer(settings, store)
                start = time.perf_counter()
                lines = await p.first_lines(people, BRIEF)
                out[name] = len(lines) / (time.perf_counter() - start)
                await p.aclose()
                sources = {line.source for line in lines}
                expected = {"cached": {"cache"}}.get(name, {"ai"})
                assert sources == expected, (name, sources, lines[0].reason)
        finally:
            await store.close()
            await fake.close()
    return out


async def main(args: argparse.Namespace) -> int:
    runs = [await one_run(args, n) for n in range(args.runs)]
    print(f"{args.contacts} contacts, model latency {args.latency} s, "
          f"max_concurrency {args.concurrency}, median of {args.runs}:")  # fmt: skip
    for key in runs[0]:
        print(f"  {key:8} {statistics.median(r[key] for r in runs):10.1f} lines/s")
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--contacts", type=int, default=200)
    p.add_argument("--latency", type=float, default=0.5)
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--runs", type=int, default=3)
    return p.parse_args(argv)


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
