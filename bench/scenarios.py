"""The scenario engine on PostgreSQL and Redis, the full pipeline on (tracking, unsubscribe, DKIM).

1. enrol: N contacts upserted, then enrolled in a one-step scenario (lifecycle.enroll,
   1,000 at a time, each contact looked up, the suppression list read);
2. claim + render: the engine's rounds over M due sends whose Submit accepts without
   relaying: operations/s and the process's CPU per operation (the scheduler's own cost),
   after a VACUUM of the tables (``--no-vacuum``: over the setup's dead rows);
3. pipeline: the engine's rounds over K due sends through the in-process Submit into
   Postfix's smtp-sink: sends/s, and, in the same run, the same gateway's SMTP
   listener fed K messages by C aiosmtplib clients: messages/s;
4. side by side: K contacts sent by one process, then by two processes sharing the
   database and Redis (``tests/support/scenario_worker.py``): wall time of each.

The process freezes its heap once the gateway is up, as the daemon does.
Needs ``smtp-sink`` (Debian's postfix package), the PostgreSQL at ``SLUICE_TEST_PG``
(default ``postgresql://postgres@127.0.0.1:5432/test``) and a Redis on 127.0.0.1:6379.

    .venv/bin/python bench/scenarios.py                       # 100,000 / 20,000 / 5,000
    .venv/bin/python bench/scenarios.py --contacts 20000 --claims 5000 --sends 2000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiosmtplib
import asyncpg
from contacts_import import drop_schema, fresh_pg_url
from procs import free_port
from sink import Sink

from gateway import parts
from gateway import submit as submit_mod
from policy.scenarios.contacts import Contact
from policy.scenarios.templates import Template
from policy.submission import Outcome, Submission
from scheduler.scenarios import lifecycle, store_catalog
from scheduler.scenarios.engine import Engine, EngineSettings
from tests.support.campaign import tracking_config
from tests.support.harness import PASSWORD, Gateway, start_gateway_from
from tests.support.scenarios import save

DSN = os.environ.get("SLUICE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
REDIS = "redis://127.0.0.1:6379/0"
ROOT = Path(__file__).resolve().parents[1]
HTML = (
    "<p>Hello {{ first_name }},</p><p>about {{ custom.company | default('your team') }}:"
    " <a href='https://acme-mail.com/offer'>the offer</a>,"
    " <a href='https://acme-mail.com/pricing'>pricing</a>.</p>"
    "<p><a href='{{ unsubscribe_url }}'>Unsubscribe</a></p>"
)


def scenario(name: str) -> dict:
    steps = [{"id": "hello", "trigger": "entry", "template": "hello"}]
    return {"name": name, "from": "Anna <anna@acme-mail.com>", "steps": steps}


async def gateway(folder: Path, sink_port: int, url: str, prefix: str) -> Gateway:
    text = tracking_config(folder, sink_port, "https://t.acme-mail.com")
    text = text.replace(f'database: "sqlite:///{folder}/sluice.db"', f'database: "{url}"')
    text = text.replace("max_connections_per_client: 50", "max_connections_per_client: 500")
    text += f"redis: {REDIS}\nredis_prefix: '{prefix}'\n"
    return await start_gateway_from(folder, text)


async def contacts(gw: Gateway, prefix: str, count: int) -> list[str]:
    emails = [f"{prefix}{i:07d}@domain{i % 997}.example" for i in range(count)]
    for i in range(0, count, 5000):
        batch = [
            Contact("acme", e, f"First{n}", custom={"company": f"Co {n % 300}"})
            for n, e in enumerate(emails[i : i + 5000], start=i)
        ]
        await gw.store.upsert_contacts("acme", batch)
    return emails


async def enrolled(gw: Gateway, name: str, emails: list[str]) -> float:
    """Seconds to enroll ``emails`` in a new started one-step scenario."""
    await save(gw.store, scenario(name))
    await lifecycle.act(gw.store, "acme", name, "start", time.time())
    catalog = store_catalog.build(gw.store)
    start = time.perf_counter()
    for i in range(0, len(emails), 1000):
        done = await lifecycle.enroll(gw.store, catalog, "acme", name, emails[i : i + 1000])
        assert not done.skipped, done.skipped[:3]
    return time.perf_counter() - start


async def vacuumed(url: str) -> None:
    """The tables as autovacuum leaves them. This machine's PostgreSQL runs with it off, and
    the setup's 100,000 cancelled operations would otherwise stay dead rows in the ledger's
    indexes that every claim walks past."""
    conn = await asyncpg.connect(url)
    try:
        for table in ("scenario_ops", "scenario_ops_archive", "enrollments", "contacts"):
            await conn.execute(f"VACUUM (ANALYZE) {table}")
    finally:
        await conn.close()


def postgres_cpu() -> float:
    """CPU seconds used so far by this machine's PostgreSQL processes (0 where not visible):
    the live ones', and, through the postmaster's count of its reaped children, those of
    the backends that ended meanwhile (a pool closing)."""
    tick, total = os.sysconf("SC_CLK_TCK"), 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # ended meanwhile
        name, _, rest = text.partition("(")[2].rpartition(")")
        if name in ("postgres", "postmaster"):
            fields = rest.split()
            total += sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
    return total / tick


async def drain(
    engine: Engine, gw: Gateway, name: str, limit: float = 600
) -> tuple[float, float, float]:
    """Rounds until the scenario has no active enrollment: wall, own CPU and PostgreSQL's
    CPU seconds (the daemon's rounds: ``Engine.burst``, then the count it ends on)."""
    wall, cpu, pg = time.perf_counter(), time.process_time(), postgres_cpu()
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        await engine.burst()
        counts = await gw.store.enrollment_counts("acme", name)
        if counts and not counts.get("active"):
            return time.perf_counter() - wall, time.process_time() - cpu, postgres_cpu() - pg
    raise RuntimeError(f"{name} still active after {limit} s")


RENDERED: list[bytes] = []  # the first message the engine rendered, for the SMTP stage


async def accept(s: Submission) -> Outcome:
    if not RENDERED:
        RENDERED.append(s.message)
    return Outcome(250, "2.0.0", "accepted (no relay)", "relayed")


def engine(gw: Gateway, submit: object) -> Engine:
    config = EngineSettings(batch=500, concurrency=32, lanes=2)
    return Engine(
        gw.store, submit, store_catalog.build(gw.store), lambda: gw.rt.settings, config=config
    )  # type: ignore[arg-type]


async def smtp_rate(port: int, count: int, concurrency: int, body: bytes) -> float:
    """Messages/s the gateway's SMTP listener relays with ``concurrency`` clients.

    ``body`` is a message the engine rendered (same parts, links and headers), so
    both paths carry the same work through the pipeline.
    """
    queue = iter(range(count))

    async def client() -> None:
        smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False)
        await smtp.connect()
        await smtp.login("mailwizz-acme", PASSWORD)
        for n in queue:
            data = body.replace(b"Message-ID: <", b"Message-ID: <smtp%d." % n, 1)  # one each
            await smtp.sendmail("anna@acme-mail.com", [f"smtp{n}@example.net"], data)
        await smtp.quit()

    start = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return count / (time.perf_counter() - start)


async def worker(folder: Path, sink_port: int, url: str, count: int, name: str, redis: str):
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.support.scenario_worker", str(folder), str(sink_port),
        url, str(count), name, redis, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=900)
    assert proc.returncode == 0, out.decode(errors="replace")[-2000:]


async def side_by_side(folder: Path, sink: Sink, count: int, processes: int) -> float:
    """Seconds for ``processes`` workers sharing a fresh schema to send ``count`` contacts."""
    made = await fresh_pg_url(DSN)
    assert made is not None
    url, schema = made
    redis = f"{REDIS}|sluice-bench-{secrets.token_hex(3)}:"
    try:
        names = ["setup", *(f"p{i}" for i in range(processes))]
        for n in names:
            (folder / n).mkdir()
        await worker(folder / "setup", sink.port, url, count, "setup", redis)
        start = time.perf_counter()
        await asyncio.gather(
            *(worker(folder / n, sink.port, url, count, n, redis) for n in names[1:])
        )
        return time.perf_counter() - start
    finally:
        await drop_schema(DSN, schema)


async def stages(args: argparse.Namespace, folder: Path, sink: Sink) -> dict[str, float]:
    made = await fresh_pg_url(DSN)
    assert made is not None, "PostgreSQL is needed"
    url, schema = made
    prefix = f"sluice-bench-{secrets.token_hex(3)}:"
    gw = await gateway(folder, sink.port, url, prefix)
    parts.freeze_heap()  # as the daemon does once started (gateway/daemon.py)
    out: dict[str, float] = {}
    try:
        await gw.store.save_template(Template("acme", "hello", "Hello {{ first_name }}", HTML))
        emails = await contacts(gw, "c", args.contacts)
        out["enrol_s"] = await enrolled(gw, "enrol", emails)
        await lifecycle.act(gw.store, "acme", "enrol", "cancel", time.time())
        await enrolled(gw, "claim", emails[: args.claims])
        if args.vacuum:
            await vacuumed(url)
        wall, cpu, pg = await drain(engine(gw, accept), gw, "claim")
        out["claim_ops_s"], out["claim_cpu_ms"] = args.claims / wall, cpu / args.claims * 1000
        out["claim_pg_cpu_ms"] = pg / args.claims * 1000
        if "pipeline" not in args.stages:
            return out
        await enrolled(gw, "send", emails[args.claims : args.claims + args.sends])
        before = sink.delivered
        wall, cpu, _ = await drain(engine(gw, submit_mod.build(lambda: gw.rt)), gw, "send")
        assert sink.delivered - before >= args.sends * 0.99, (sink.delivered, before)
        out["pipeline_ops_s"], out["pipeline_cpu_ms"] = args.sends / wall, cpu / args.sends * 1000
        out["smtp_msgs_s"] = await smtp_rate(gw.port, args.sends, args.concurrency, RENDERED[0])
    finally:
        await gw.close()
        await drop_schema(DSN, schema)
    return out


async def main(args: argparse.Namespace) -> int:
    sink = Sink(free_port())
    await sink.start()
    runs: list[dict[str, float]] = []
    try:
        for n in range(args.runs):
            with tempfile.TemporaryDirectory(prefix="sluice-bench-") as tmp:
                found = await stages(args, Path(tmp), sink)
                for processes in (1, 2) if "side" in args.stages else ():
                    sub = Path(tmp) / f"side{processes}"
                    sub.mkdir()
                    found[f"side_{processes}_s"] = await side_by_side(
                        sub, sink, args.sends, processes
                    )
            print(f"run {n + 1}: " + ", ".join(f"{k}={v:.3g}" for k, v in found.items()))
            runs.append(found)
    finally:
        await sink.stop()
    print(f"\nmedians of {args.runs} run(s):")
    for key in runs[0]:
        print(f"  {key:16} {statistics.median(r[key] for r in runs):10.3f}")
    if "pipeline" in args.stages:
        ratio = statistics.median(r["pipeline_ops_s"] / r["smtp_msgs_s"] for r in runs)
        print(
            f"  pipeline/smtp    {ratio:10.2f}  (the scheduler's sends per SMTP message, same run)"
        )
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--contacts", type=int, default=100_000, help="contacts enrolled (stage 1)")
    p.add_argument("--claims", type=int, default=20_000, help="sends without relay (stage 2)")
    p.add_argument("--sends", type=int, default=5_000, help="sends through the pipeline (3, 4)")
    p.add_argument("--concurrency", type=int, default=16, help="SMTP clients in stage 3")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument(
        "--stages", default="pipeline,side", help="besides enrol and claim: pipeline, side"
    )
    p.add_argument(
        "--no-vacuum", dest="vacuum", action="store_false",
        help="claim over the setup's dead rows (no VACUUM before stage 2)",
    )  # fmt: skip
    return p.parse_args(argv)


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
