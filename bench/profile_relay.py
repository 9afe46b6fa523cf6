"""Where one Sluice process (DKIM on) spends its time under relay load.

Starts the smtp-sink and a one-process Sluice as ``relay.py`` does, warms it
up, then samples it with py-spy while smtp-source sends at concurrency 50:
once into collapsed stacks (``profile.txt``, summarised here by component)
and once into a flame graph (``profile.svg``), both in bench/results/.

    .venv/bin/pip install py-spy
    .venv/bin/python bench/profile_relay.py [--messages 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import os
import re
import shutil
import signal
import sys
from pathlib import Path

from mailgen import wire_bytes
from procs import free_port
from relay import RESULTS, Bench, parse_args, prepare_workdir
from servers import Sluice
from sink import Sink

PY_SPY = str(Path(sys.executable).parent / "py-spy")

# Components, in priority order: a stack is charged to the first one any of its
# frames belongs to, so DKIM work called from an aiosmtpd hook counts as DKIM,
# and a socket write made by aiosmtplib counts as aiosmtplib, not the loop.
COMPONENTS: list[tuple[str, re.Pattern[str]]] = [
    (
        "DKIM signing (canonicalise, hash, RSA/Ed25519)",
        re.compile(r"gateway/dkim\.py|cryptography"),
    ),
    ("logging", re.compile(r"logging/")),
    ("metrics (prometheus_client)", re.compile(r"prometheus_client|gateway/metrics\.py")),
    ("event recording (queue, SQLite)", re.compile(r"policy/events|policy/store|aiosqlite|sqlite")),
    ("message parse / serialise", re.compile(r"gateway/message\.py|email/")),
    ("aiosmtplib (downstream client)", re.compile(r"aiosmtplib|gateway/downstream\.py")),
    ("other pipeline steps", re.compile(r"gateway/steps/")),
    ("aiosmtpd (SMTP server, DATA parsing)", re.compile(r"aiosmtpd")),
    ("gateway glue (smtp.py, pipeline.py)", re.compile(r"gateway/(smtp|pipeline)\.py")),
    ("event loop, transports", re.compile(r"asyncio/|uvloop")),
]
FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*)\)$")


async def spy(pid: int, out: Path, fmt: str, load) -> None:
    """Sample ``pid`` with py-spy for as long as ``load`` runs; py-spy writes on SIGINT."""
    spy_proc = await asyncio.create_subprocess_exec(
        PY_SPY, "record", "--pid", str(pid), "--rate", "100", "--format", fmt,
        "--output", str(out), *(["--nolineno"] if fmt == "raw" else []),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    await asyncio.sleep(1)  # let py-spy attach before the load starts
    try:
        await load
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(spy_proc.pid, signal.SIGINT)
        await asyncio.wait_for(spy_proc.wait(), 60)


def read_stacks(path: Path) -> list[tuple[list[str], int]]:
    """Collapsed stacks: root-first frames and their sample count."""
    stacks = []
    for line in path.read_text().splitlines():
        frames, _, count = line.rpartition(" ")
        if frames and count.isdigit():
            stacks.append((frames.split(";"), int(count)))
    return stacks


def component(frames: list[str]) -> str:
    for name, pattern in COMPONENTS:
        if any(pattern.search(f) for f in frames):
            return name
    return "other (process, stdlib)"


def summarise(stacks: list[tuple[list[str], int]], top: int = 15) -> str:
    total = sum(n for _, n in stacks) or 1
    by_component: collections.Counter[str] = collections.Counter()
    self_time: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    for frames, n in stacks:
        by_component[component(frames)] += n
        self_time[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n
    lines = [f"{total} samples of the Sluice process (busy threads, 100 Hz)", "", "By component:"]
    lines += [f"  {n / total:6.1%}  {name}" for name, n in by_component.most_common()]
    lines += ["", "Top functions by own (self) time:"]
    lines += [f"  {n / total:6.1%}  {short(f)}" for f, n in self_time.most_common(top)]
    lines += ["", "Top Sluice functions by inclusive time:"]
    # Sluice's own frames, less the entry points every sample passes through.
    ours = [
        (f, n)
        for f, n in inclusive.most_common()
        if re.search(r"\((gateway|policy)/", f) and not re.search(r"\(gateway/(cli|daemon)", f)
    ]
    lines += [f"  {n / total:6.1%}  {short(f)}" for f, n in ours[:top]]
    return "\n".join(lines)


def short(frame: str) -> str:
    match = FRAME.match(frame)
    return f"{match['func']} ({match['file']})" if match else frame


async def main(args: argparse.Namespace) -> int:
    workdir, message_file, text = prepare_workdir()
    sink = Sink(free_port())
    await sink.start()
    bench = Bench(args, workdir, sink, message_file, wire_bytes(text))
    sluice = Sluice(workdir, "sluice-profile", sink.port)
    await sluice.start()
    RESULTS.mkdir(exist_ok=True)
    raw, svg = RESULTS / "profile.txt", RESULTS / "profile.svg"
    try:
        await bench.load(sluice.port, 50, args.warmup, None)
        await spy(sluice.root_pid, raw, "raw", bench.load(sluice.port, 50, args.messages, None))
        await spy(sluice.root_pid, svg, "flamegraph", bench.load(sluice.port, 50, 3000, None))
    finally:
        await sluice.stop()
        await sink.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    summary = summarise(read_stacks(raw))
    (RESULTS / "profile-summary.txt").write_text(summary + "\n")
    print(summary)
    print(f"\nwritten: {raw}, {svg}, {RESULTS / 'profile-summary.txt'}")
    return 0


if __name__ == "__main__":
    if not Path(PY_SPY).exists():
        sys.exit("py-spy not found: .venv/bin/pip install py-spy")
    # relay.py's options apply (--messages, --warmup); --messages defaults to 10000 here.
    argv = sys.argv[1:]
    if not any(a.startswith("--messages") for a in argv):
        argv += ["--messages", "10000"]
    sys.exit(asyncio.run(main(parse_args(argv))))
