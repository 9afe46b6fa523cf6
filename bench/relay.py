"""Relay throughput, latency and memory: smtp-source -> relay -> smtp-sink.

Every configuration runs in the same invocation against the same sink and the
same message (~20 KB HTML, 60 links, one recipient), so their numbers compare:

    direct          smtp-source straight into smtp-sink (the ceiling of the rig)
    postfix         a throwaway Postfix instance relaying to the sink, no DKIM
    sluice-dkim     one Sluice process, DKIM RSA-2048 + Ed25519
    sluice-2w-dkim  Sluice with smtp.workers: 2 (Redis), DKIM on
    sluice-nodkim   one Sluice process, no DKIM keys

The rate is end-to-end: from starting the load until the sink has every
message, so Postfix's queue is fully drained before its clock stops.

    .venv/bin/python bench/relay.py              # 20,000 messages per run, 3 runs
    .venv/bin/python bench/relay.py --quick      # 2,000 messages, 1 run: a smoke test
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from mailgen import RECIPIENT, SENDER, newsletter, wire_bytes
from probe import Probe
from procs import RssSampler, free_port, status_kb, terminate
from servers import REDIS_PREFIX, Postfix, Sluice, make_keys
from sink import Sink

RESULTS = Path(__file__).resolve().parent / "results"
CONFIGS = ("direct", "postfix", "sluice-dkim", "sluice-2w-dkim", "sluice-nodkim")
# Sluice's share of Postfix's end-to-end rate that each configuration should reach.
TARGETS = {"sluice-dkim": 0.40, "sluice-2w-dkim": 0.75, "sluice-nodkim": 1.00}
IDLE_RSS_LIMIT_MB = 200


@dataclass
class Direct:
    """No relay: the load goes straight to the sink."""

    port: int
    name: str = "direct"
    root_pid: int = 0

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass


@dataclass
class Row:
    config: str
    concurrency: int
    rates: list[float] = field(default_factory=list)  # delivered messages/s, one per run
    accepted_rates: list[float] = field(default_factory=list)  # as smtp-source saw it
    latencies_ms: list[float] = field(default_factory=list)  # probe, pooled over runs
    probe_failures: int = 0
    peak_rss_mb: float = 0.0
    peak_pss_mb: float = 0.0
    # 1-minute load average after the runs: other work on the machine shows up here.
    load_average: float = 0.0

    @property
    def rate(self) -> float:
        return statistics.median(self.rates)

    def percentile(self, q: int) -> float:
        return percentile(self.latencies_ms, q)


def percentile(values: list[float], q: int) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


@dataclass
class Bench:
    args: argparse.Namespace
    workdir: Path
    sink: Sink
    message_file: Path
    message: bytes
    rows: list[Row] = field(default_factory=list)
    # Probe latencies with no bulk load, per configuration: the relay's own cost.
    unloaded: dict[str, list[float]] = field(default_factory=dict)

    async def load(self, port: int, concurrency: int, count: int, row: Row | None) -> None:
        """One run: ``count`` messages at ``concurrency``, timed until the sink has them all."""
        base = self.sink.delivered
        timeout = 60 + count / 20  # generous, but a stuck relay cannot hang the run
        probe = Probe(port, self.message, self.args.probe_rate)
        if row is not None:
            probe.start(limit=int(timeout * self.args.probe_rate))
        started = time.monotonic()
        proc = await asyncio.create_subprocess_exec(
            "smtp-source", "-d", "-s", str(concurrency), "-m", str(count),
            "-F", str(self.message_file), "-f", SENDER, "-t", RECIPIENT,
            "-M", "load.bench.test", f"127.0.0.1:{port}",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            _, err = await asyncio.wait_for(proc.communicate(), timeout)
        finally:
            await terminate(proc, timeout=5)
        accepted = time.monotonic()
        await probe.stop()
        if proc.returncode != 0:
            raise RuntimeError(f"smtp-source failed ({proc.returncode}): {err.decode()[-500:]}")
        total = count + probe.sent
        remaining = max(10.0, timeout - (accepted - started))
        delivered = await self.sink.wait_for(base + total, remaining)
        if row is not None:
            row.rates.append(total / (delivered - started))
            row.accepted_rates.append(total / (accepted - started))
            row.latencies_ms += probe.latencies_ms
            row.probe_failures += probe.failures
            print(
                f"  {row.config} c={concurrency}: {row.rates[-1]:7.0f} msg/s delivered,"
                f" {row.accepted_rates[-1]:7.0f} accepted, probe n={probe.sent}",
                flush=True,
            )

    async def measure(self, target) -> None:
        """Warm the relay up, then the timed runs at each concurrency."""
        try:
            await target.start()
            await self.load(target.port, 50, self.args.warmup, None)
            await self.quiet_latency(target)
            for concurrency in self.args.concurrency:
                row = Row(target.name, concurrency)
                sampler = RssSampler(target.root_pid) if target.root_pid else None
                if sampler:
                    sampler.start()
                top = concurrency == max(self.args.concurrency)
                for _ in range(self.args.runs if top else self.args.runs_low):
                    await self.load(target.port, concurrency, self.args.messages, row)
                if sampler:
                    row.peak_rss_mb, row.peak_pss_mb = await sampler.stop()
                row.load_average = os.getloadavg()[0]
                self.rows.append(row)
        finally:
            await target.stop()
        await asyncio.sleep(1)  # let the stopped relay's processes leave the CPU

    async def quiet_latency(self, target) -> None:
        """The probe alone, so its times are the relay's own, without queueing behind load."""
        base = self.sink.delivered
        probe = Probe(target.port, self.message, self.args.probe_rate)
        probe.start(limit=self.args.quiet_probes)
        await asyncio.wait_for(probe.finish(), 60 + self.args.quiet_probes)
        await self.sink.wait_for(base + probe.sent, 60)
        self.unloaded[target.name] = probe.latencies_ms
        p50 = percentile(probe.latencies_ms, 50)
        print(f"  {target.name} unloaded: p50 {p50:.1f} ms", flush=True)

    def make(self, name: str):
        port = self.sink.port
        if name == "direct":
            return Direct(port)
        if name == "postfix":
            return Postfix(self.workdir, port)
        workers = 2 if name == "sluice-2w-dkim" else 1
        return Sluice(self.workdir, name, port, workers=workers, dkim=name != "sluice-nodkim")


async def idle_connections(workdir: Path, sink_port: int, count: int) -> dict:
    """Memory of one Sluice process (DKIM on) holding ``count`` idle EHLO'd connections."""
    sluice = Sluice(workdir, "sluice-idle", sink_port)
    await sluice.start()
    writers = []
    try:
        before = status_kb(sluice.root_pid, "VmRSS")
        for _ in range(count):
            reader, writer = await asyncio.open_connection("127.0.0.1", sluice.port)
            writers.append(writer)
            await reader.readline()  # 220 greeting
            writer.write(b"EHLO idle.bench.test\r\n")
            while not (await reader.readline())[3:4] == b" ":  # last line of the 250 reply
                pass
        await asyncio.sleep(2)  # hold them open
        return {
            "connections": count,
            "rss_before_mb": before / 1024,
            "rss_mb": status_kb(sluice.root_pid, "VmRSS") / 1024,
            "hwm_mb": status_kb(sluice.root_pid, "VmHWM") / 1024,
        }
    finally:
        for writer in writers:
            writer.close()
        await sluice.stop()


def machine() -> dict:
    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")), platform.processor(),
    )  # fmt: skip
    postfix = subprocess.run(["postconf", "-d", "-h", "mail_version"], capture_output=True,
                             text=True).stdout.strip()  # fmt: skip
    return {
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "postfix": postfix,
    }


def table(bench: Bench, idle: dict | None) -> str:
    """The results as Markdown tables, ratios and pass/fail included."""
    by = {(r.config, r.concurrency): r for r in bench.rows}
    out = [
        "| configuration | conc. | msg/s (median) | runs | vs direct | vs Postfix "
        "| latency p50 / p99 ms | added p50 / p99 ms | peak RSS MB | peak PSS MB | target |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in bench.rows:
        direct, postfix = by.get(("direct", r.concurrency)), by.get(("postfix", r.concurrency))
        vs_direct = f"{r.rate / direct.rate:.2f}" if direct else "-"
        vs_postfix = f"{r.rate / postfix.rate:.2f}" if postfix else "-"
        p50, p99 = r.percentile(50), r.percentile(99)
        added = "-"
        if direct and r is not direct:
            added = f"{p50 - direct.percentile(50):+.1f} / {p99 - direct.percentile(99):+.1f}"
        rss = f"{r.peak_rss_mb:.0f}" if r.peak_rss_mb else "-"
        pss = f"{r.peak_pss_mb:.0f}" if r.peak_pss_mb else "-"
        verdict = "-"
        if r.config in TARGETS and postfix:
            goal = TARGETS[r.config]
            ok = r.rate >= goal * postfix.rate
            verdict = f"{'PASS' if ok else 'FAIL'} (>= {goal:.2f} of Postfix)"
        out.append(
            f"| {r.config} | {r.concurrency} | {r.rate:.0f} | {len(r.rates)} | {vs_direct}"
            f" | {vs_postfix} | {p50:.1f} / {p99:.1f} | {added} | {rss} | {pss} | {verdict} |"
        )
    if bench.unloaded:
        base = bench.unloaded.get("direct")
        out += [
            "",
            f"Latency with no bulk load ({bench.args.quiet_probes} probe messages at"
            f" {bench.args.probe_rate:g}/s, one connection):",
            "",
            "| configuration | p50 ms | p99 ms | added p50 / p99 ms |",
            "|---|---:|---:|---:|",
        ]
        for name, values in bench.unloaded.items():
            p50, p99 = percentile(values, 50), percentile(values, 99)
            added = "-"
            if base and name != "direct":
                added = f"{p50 - percentile(base, 50):+.1f} / {p99 - percentile(base, 99):+.1f}"
            out.append(f"| {name} | {p50:.1f} | {p99:.1f} | {added} |")
    if idle:
        ok = idle["hwm_mb"] < IDLE_RSS_LIMIT_MB
        out += [
            "",
            f"Idle connections: one Sluice process (DKIM on) with {idle['connections']} EHLO'd"
            f" connections open: VmRSS {idle['rss_mb']:.0f} MB (was {idle['rss_before_mb']:.0f}"
            f" MB before), VmHWM {idle['hwm_mb']:.0f} MB: {'PASS' if ok else 'FAIL'}"
            f" (< {IDLE_RSS_LIMIT_MB} MB).",
        ]
    return "\n".join(out)


def clean_redis() -> None:
    """Delete the keys the two-worker run left under its own prefix, and only those."""
    cli = shutil.which("redis-cli")
    if cli is None:
        return
    keys = subprocess.run([cli, "-n", "0", "--scan", "--pattern", f"{REDIS_PREFIX}*"],
                          capture_output=True, text=True).stdout.split()  # fmt: skip
    for i in range(0, len(keys), 500):
        subprocess.run([cli, "-n", "0", "del", *keys[i : i + 500]], capture_output=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--messages", type=int, default=20_000, help="messages per run (20000)")
    p.add_argument("--runs", type=int, default=3, help="runs at the top concurrency (median)")
    p.add_argument("--runs-low", type=int, default=1, help="runs at the other concurrencies")
    p.add_argument("--concurrency", default="10,50", help="smtp-source sessions (10,50)")
    p.add_argument("--configs", default=",".join(CONFIGS), help="which configurations")
    p.add_argument("--warmup", type=int, default=1000, help="untimed messages before each")
    p.add_argument("--probe-rate", type=float, default=20, help="latency probe messages/s")
    p.add_argument("--quiet-probes", type=int, default=200, help="probe messages, no load")
    p.add_argument("--idle", type=int, default=500, help="idle connections (0 skips)")
    p.add_argument("--quick", action="store_true", help="2000 messages, 1 run, small warm-up")
    p.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
    args = p.parse_args(argv)
    if args.quick:
        args.messages, args.runs, args.runs_low = min(args.messages, 2000), 1, 1
        args.warmup, args.quiet_probes = 200, 40
    args.concurrency = [int(c) for c in args.concurrency.split(",")]
    args.configs = [c for c in args.configs.split(",") if c]
    unknown = set(args.configs) - set(CONFIGS)
    if unknown:
        p.error(f"unknown configurations: {', '.join(sorted(unknown))}")
    return args


def prepare_workdir() -> tuple[Path, Path, str]:
    """A fresh work directory with the DKIM keys and the message file smtp-source sends."""
    workdir = Path(tempfile.mkdtemp(prefix="sluice-bench-"))
    workdir.chmod(0o755)  # Postfix's unprivileged daemons must reach their queue inside
    text = newsletter()
    message_file = workdir / "message.eml"
    message_file.write_text(text)
    make_keys(workdir)
    return workdir, message_file, text


def write_results(report: str, payload: dict) -> Path:
    """The Markdown report and the raw numbers, side by side in bench/results/."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"relay-{time.strftime('%Y%m%d-%H%M%S')}.md"
    info = "\n".join(f"- {k}: {v}" for k, v in payload["machine"].items())
    path.write_text(info + "\n\n" + report + "\n")
    path.with_suffix(".json").write_text(json.dumps(payload, indent=1))
    return path


async def main(args: argparse.Namespace) -> int:
    for tool in ("smtp-source", "smtp-sink", "postfix"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} not found: apt-get install postfix (do not enable its service)")
    workdir, message_file, text = prepare_workdir()
    sink = Sink(free_port())
    await sink.start()
    bench = Bench(args, workdir, sink, message_file, wire_bytes(text))
    info = machine() | {"message_bytes": len(bench.message), "args": vars(args)}
    print(f"work directory {workdir}; message {len(bench.message)} bytes", flush=True)
    idle = None
    try:
        for name in args.configs:
            print(f"{name}:", flush=True)
            await bench.measure(bench.make(name))
        if args.idle:
            idle = await idle_connections(workdir, sink.port, args.idle)
    finally:
        await sink.stop()
        if "sluice-2w-dkim" in args.configs:
            clean_redis()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        # Whatever finished is written, even when a later configuration failed.
        report = table(bench, idle)
        print("\n" + report)
        rows = [asdict(r) | {"median_rate": r.rate} for r in bench.rows]
        payload = {"machine": info, "rows": rows, "unloaded": bench.unloaded, "idle": idle}
        path = write_results(report, payload)
        print(f"\nwritten to {path} and {path.with_suffix('.json').name}")
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(asyncio.run(main(parse_args())))
