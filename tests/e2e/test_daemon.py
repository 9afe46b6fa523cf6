"""The daemon as operators run it: signals, reload, health endpoints, the embedded default."""

import asyncio
import base64
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp
import aiosmtplib
import dkim as dkimpy
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway import dkim, metrics_dir
from gateway.dkim_keys import public_txt
from tests.support import backends
from tests.support.daemon import Daemon, free_port, require_free
from tests.support.harness import PASSWORD, config_text, dns_for, make_keys, message, send
from tests.support.rawsmtp import RawSMTP

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def write_config(folder: Path, sink_port: int) -> tuple[Path, int, int]:
    smtp, admin = free_port(), free_port()
    text = config_text(folder, sink_port).replace('"127.0.0.1:0"', f'"127.0.0.1:{smtp}"')
    text += (
        f'http: {{admin_listen: "127.0.0.1:{admin}", public_listen: "127.0.0.1:{free_port()}"}}\n'
    )
    path = folder / "sluice.yaml"
    path.write_text(text)
    return path, smtp, admin


async def begin_data(port: int) -> RawSMTP:
    s = await RawSMTP.open(port)
    await s.cmd(b"EHLO t")
    auth = base64.b64encode(b"\0mailwizz-acme\0" + PASSWORD.encode())
    assert (await s.cmd(b"AUTH PLAIN " + auth)).startswith("235")
    assert (await s.cmd(b"MAIL FROM:<news@acme-mail.com>")).startswith("250")
    assert (await s.cmd(b"RCPT TO:<inflight@example.net>")).startswith("250")
    assert (await s.cmd(b"DATA")).startswith("354")
    s.writer.write(message(to="inflight@example.net")[:60])
    await s.writer.drain()
    return s


async def test_sigterm_lets_the_transaction_finish_and_exits_0(tmp_path, sink):
    make_keys(tmp_path)
    path, smtp, _ = write_config(tmp_path, sink.port)
    d = await Daemon.start(["run", "-c", str(path)], cwd=tmp_path)
    try:
        inflight = await begin_data(smtp)
        idle = await RawSMTP.open(smtp)
        await idle.cmd(b"EHLO idle")
        d.signal(signal.SIGTERM)
        assert (await idle.reply()).startswith("421 4.3.2")
        rest = message(to="inflight@example.net")[60:]
        reply = await inflight.send_raw(rest + b"\r\n.\r\n")
        assert reply.startswith("250"), reply
        assert [m.recipients for m in sink.messages] == [["inflight@example.net"]]
        assert await d.wait() == 0
    finally:
        await d.stop()


async def test_new_connections_get_421_while_draining(tmp_path, sink):
    make_keys(tmp_path)
    path, smtp, _ = write_config(tmp_path, sink.port)
    d = await Daemon.start(["run", "-c", str(path)], cwd=tmp_path)
    try:
        inflight = await begin_data(smtp)
        d.signal(signal.SIGTERM)
        await d.wait_for_log("draining: up to")
        reader, writer = await asyncio.open_connection("127.0.0.1", smtp)
        greeting = await asyncio.wait_for(reader.readline(), 5)
        assert greeting.startswith(b"421 4.3.2"), greeting
        writer.close()
        await inflight.send_raw(message(to="inflight@example.net")[60:] + b"\r\n.\r\n")
        assert await d.wait() == 0
    finally:
        await d.stop()


async def test_sigterm_never_yields_250_without_delivery(tmp_path, sink):
    make_keys(tmp_path)
    path, smtp, _ = write_config(tmp_path, sink.port)
    d = await Daemon.start(["run", "-c", str(path)], cwd=tmp_path)  # drain_timeout: 5
    try:
        inflight = await begin_data(smtp)
        d.signal(signal.SIGTERM)
        assert await d.wait(timeout=20) == 0
        # The client never finished DATA: the connection is gone without a 250.
        reply = await inflight.reply(timeout=5)
        assert not reply.startswith("250")
        assert sink.messages == []
    finally:
        await d.stop()


async def test_sighup_with_a_broken_file_keeps_serving(tmp_path, sink):
    make_keys(tmp_path)
    path, smtp, _ = write_config(tmp_path, sink.port)
    d = await Daemon.start(["run", "-c", str(path)], cwd=tmp_path)
    try:
        good = path.read_text()
        path.write_text(good.replace("pool: acme", "pool: nowhere", 1))
        d.signal(signal.SIGHUP)
        line = await d.wait_for_log("reload rejected")
        assert line
        await d.wait_for_log("tenants[0].pool: no pool named 'nowhere'")
        assert (await send(smtp))[0] == 250
        # A valid change takes effect without a restart.
        path.write_text(good.replace("[acme-mail.com]", "[acme-mail.com, acme-news.com]"))
        d.signal(signal.SIGHUP)
        await d.wait_for_log("configuration reloaded")
        code, _ = await send(smtp, sender="n@acme-news.com", data=message(sender="n@acme-news.com"))
        assert code == 250
        d.signal(signal.SIGTERM)
        assert await d.wait() == 0
    finally:
        await d.stop()


async def test_health_readiness_and_metrics(tmp_path, sink):
    make_keys(tmp_path)
    path, smtp, admin = write_config(tmp_path, sink.port)
    d = await Daemon.start(["run", "-c", str(path)], cwd=tmp_path)
    try:
        assert (await send(smtp))[0] == 250
        async with aiohttp.ClientSession(f"http://127.0.0.1:{admin}") as http:
            async with http.get("/healthz") as r:
                assert r.status == 200
            async with http.get("/readyz") as r:
                body = await r.json()
                assert r.status == 200 and body["status"] == "ready"
                assert body["checks"] == {
                    "downstream": "ok",
                    "store": "ok",
                    "policy": "ok",
                    "policy_refresh": "ok",
                    "tasks": "ok",
                    "spool": "ok",
                }
            async with http.get("/metrics") as r:
                text = await r.text()
                assert 'sluice_transactions_total{result="relayed",tenant="acme"} 1.0' in text
                assert "sluice_relay_seconds_bucket" in text
                assert "sluice_downstream_pool_in_use" in text and "sluice_smtp_connections" in text
            await sink.stop()
            async with http.get("/readyz") as r:
                body = await r.json()
                # The spool has room: PowerMTA away costs no message, so still in service.
                assert (r.status, body["status"]) == (200, "degraded")
                assert body["checks"]["downstream"] != "ok" and body["checks"]["spool"] == "ok"
        d.signal(signal.SIGTERM)
        assert await d.wait() == 0
        assert any("outcome=relayed tenant=acme" in line and "vmta=acme-" in line for line in d.log)
    finally:
        await d.stop()


async def test_check_config_names_the_key(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("smtp:\n  listen: 127.0.0.1:2525\n  max_conections: 5\n")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway.cli",
        "check-config",
        "-c",
        str(bad),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=ROOT,
    )
    _, err = await proc.communicate()
    assert proc.returncode == 2
    assert "smtp.max_conections: unknown key" in err.decode() and "(line 3)" in err.decode()


async def test_embedded_default_relays_into_the_outbox_signed(tmp_path):
    await require_free(2525, 8025, 8080)
    d = await Daemon.start(["run"], cwd=tmp_path)
    try:
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=2525, start_tls=False)
        await client.connect()
        await client.sendmail(
            "me@laptop.example",
            ["someone@example.com"],
            message(to="someone@example.com", sender="me@laptop.example"),
        )
        await client.quit()
        outbox = tmp_path / "var" / "outbox"
        [eml] = sorted(outbox.glob("*.eml"))
        envelope = json.loads(eml.with_suffix(".json").read_text())
        assert envelope["recipients"] == ["someone@example.com"]
        raw = eml.read_bytes()
        assert b"X-Virtual-MTA: local-1" in raw
        records = {
            sel: public_txt(
                dkim.load_key(
                    tmp_path / "var" / "keys" / f"{sel}.pem", "x.example", sel
                ).private_key
            )
            for sel in ("sluice-rsa", "sluice-ed25519")
        }
        verifier = dkimpy.DKIM(raw)
        assert verifier.verify(idx=0, dnsfunc=dns_for(records))
        assert verifier.verify(idx=1, dnsfunc=dns_for(records))
        assert b"d=laptop.example" in raw
        assert (tmp_path / "var" / "sluice.db").exists()
        d.signal(signal.SIGTERM)
        assert await d.wait() == 0
    finally:
        await d.stop()


async def start_two_workers(tmp_path: Path, sink_port: int) -> tuple[Daemon, int, int, set[int]]:
    """A daemon with ``smtp.workers: 2`` once both are ready: it, its SMTP and admin ports, pids."""
    make_keys(tmp_path)
    path, smtp, admin = write_config(tmp_path, sink_port)
    text = path.read_text().replace("hostname: relay.test,", "hostname: relay.test, workers: 2,")
    path.write_text(
        text + f"redis: {backends.REDIS_URL}\nredis_prefix: '{backends.REDIS_PREFIX}'\n"
    )
    d = await Daemon.start(["run", "-c", str(path)], cwd=tmp_path)
    try:  # the second worker may start late on a busy machine
        await d.wait_for_log("sluice ready", timeout=30, count=2)
    except AssertionError:
        await d.stop()
        raise
    pids = {int(line.split("pid=")[1].split()[0]) for line in d.log if "sluice ready" in line}
    assert len(pids) == 2, "\n".join(d.log)
    return d, smtp, admin, pids


async def test_two_workers_share_the_port_and_stop_together(tmp_path, sink):
    d, smtp, _, pids = await start_two_workers(tmp_path, sink.port)
    try:
        results = await asyncio.gather(*(send(smtp, to=f"w{i}@example.net") for i in range(20)))
        assert [code for code, _ in results] == [250] * 20
        assert len(sink.messages) == 20
        d.signal(signal.SIGTERM)
        assert await d.wait() == 0
        assert not any(" exited (" in line for line in d.log)  # a shutdown is no failure
        for pid in pids:
            assert (
                not Path(f"/proc/{pid}").exists()
                or "zombie" in Path(f"/proc/{pid}/status").read_text()
            )
    finally:
        await d.stop()


def scrape(text: str) -> dict[str, dict[tuple, float]]:
    """Sample values by name, then by sorted label pairs."""
    samples: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = tuple(sorted(sample.labels.items()))
            samples.setdefault(sample.name, {})[key] = sample.value
    return samples


async def test_metrics_count_the_traffic_of_every_worker(tmp_path, sink):
    d, smtp, admin, pids = await start_two_workers(tmp_path, sink.port)
    try:
        [shared] = [line.rsplit(" in ", 1)[1].split()[0] for line in d.log if "metrics of" in line]
        [worker] = pids - {d.proc.pid}
        # Separate connections: the kernel spreads them over both processes.
        results = await asyncio.gather(*(send(smtp, to=f"m{i}@example.net") for i in range(40)))
        assert [code for code, _ in results] == [250] * 40
        served = {int(f.stem.rsplit("_", 1)[1]) for f in Path(shared).glob("counter_*.db")}
        assert worker in served, "every message went to the first process; nothing was shown"

        async with aiohttp.ClientSession(f"http://127.0.0.1:{admin}") as http:
            async with http.get("/metrics") as r:
                assert r.status == 200
                before = scrape(await r.text())
            relayed = before["sluice_messages_total"]
            assert sum(v for k, v in relayed.items() if ("result", "relayed") in k) == 40
            assert sum(before["sluice_transactions_total"].values()) == 40
            assert before["sluice_smtp_connections"] == {(): 0.0}
            assert before["sluice_relay_seconds_count"] == {(): 40.0}
            assert not any("pid" in dict(k) for series in before.values() for k in series)
            # Figures computed at scrape time and the tasks' lag are there once.
            assert before["sluice_pool_ips_in_rotation"]
            assert before["sluice_task_lag_seconds"]

            # A worker that dies: the others serve on, its messages stay counted,
            # its live gauges go.
            os.kill(worker, signal.SIGKILL)
            await d.wait_for_log(f"pid={worker} exited (killed by SIGKILL)")
            assert not list(Path(shared).glob(f"gauge_live*_{worker}.db"))
            code, _ = await send(smtp, to="after@example.net")
            assert code == 250
            async with http.get("/metrics") as r:
                after = scrape(await r.text())
            relayed = after["sluice_messages_total"]
            assert sum(v for k, v in relayed.items() if ("result", "relayed") in k) == 41
        d.signal(signal.SIGTERM)
        assert await d.wait() == 0
        assert not Path(shared).exists()
        assert sum(" exited (" in line for line in d.log) == 1  # the kill, not the shutdown
    finally:
        await d.stop()


def test_an_operators_metrics_directory_is_emptied_of_an_earlier_run(tmp_path):
    stale = tmp_path / "counter_1.db"
    stale.write_bytes(b"left by the run before")
    (tmp_path / "notes.txt").write_text("not ours")
    probe = (
        "from gateway import metrics_dir\n"
        "d = metrics_dir.prepare(1)\n"
        "import prometheus_client.values as v\n"
        "print(d.path, d.made, v.ValueClass is not v.MutexValue)\n"
        "d.close()\n"
    )
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == [str(tmp_path), "False", "True"]
    assert not stale.exists() and (tmp_path / "notes.txt").exists()


def test_the_metrics_directory_refuses_a_late_prometheus_import(tmp_path, monkeypatch):
    # In this process prometheus_client is long imported, in single-process mode.
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    with pytest.raises(RuntimeError, match="imported before the metrics directory"):
        metrics_dir.prepare(2)
    assert metrics_dir.prepare(1).path is None
