"""The relays under test: a throwaway Postfix instance and Sluice processes.

Each one listens on its own loopback port and relays to the shared smtp-sink.
``start()`` returns once it accepts mail; ``root_pid`` is the process whose
tree is measured for memory; ``stop()`` stops only what ``start()`` started.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import time
from pathlib import Path

from procs import free_port, read_pid, running, terminate
from sink import wait_listening

SLUICE = str(Path(sys.executable).parent / "sluice")
REDIS_PREFIX = "sluice-bench-"


class Postfix:
    """A private Postfix: own config, queue and data directories, no DKIM, no chroot."""

    name = "postfix"

    def __init__(self, workdir: Path, sink_port: int):
        self.dir = workdir / "postfix"
        self.etc = self.dir / "etc"
        self.sink_port = sink_port
        self.port = free_port()
        self.root_pid = 0

    def _configure(self) -> None:
        for sub in ("etc", "queue", "data"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        # The postfix user must be able to walk down to its queue (the work
        # directory is made world-searchable by its creator) and own data_directory.
        shutil.chown(self.dir / "data", "postfix")
        shutil.copy("/etc/postfix/master.cf", self.etc / "master.cf")
        main = {
            "compatibility_level": "3.6",
            "queue_directory": self.dir / "queue",
            "data_directory": self.dir / "data",
            "inet_interfaces": "loopback-only",
            "inet_protocols": "ipv4",
            "myhostname": "postfix.bench.test",
            "mydestination": "",
            "relayhost": f"[127.0.0.1]:{self.sink_port}",
            "mynetworks": "127.0.0.0/8",
            "smtpd_relay_restrictions": "permit_mynetworks, reject",
            "alias_maps": "",
            "alias_database": "",
            "local_recipient_maps": "",
            # Postfix logs every message, as Sluice does; to a file as no syslog runs here.
            "maillog_file": self.dir / "maillog",
            "maillog_file_prefixes": self.dir,
        }
        text = "".join(f"{key} = {value}\n" for key, value in main.items())
        (self.etc / "main.cf").write_text(text)
        # Debian chroots some daemons, which would need copies of /etc files in the queue.
        self._postconf("-F", "*/*/chroot = n")
        # smtpd on our high loopback port instead of 25.
        self._postconf("-MX", "smtp/inet")
        listen = f"127.0.0.1:{self.port}"
        self._postconf("-M", f"{listen}/inet={listen} inet n - n - - smtpd")

    def _postconf(self, *args: str) -> None:
        subprocess.run(["postconf", "-c", str(self.etc), *args], check=True)

    async def start(self) -> None:
        self._configure()
        await asyncio.to_thread(self._control, "start")
        await wait_listening(self.port)
        self.root_pid = read_pid(self.dir / "queue" / "pid" / "master.pid")

    async def stop(self) -> None:
        await asyncio.to_thread(self._control, "stop")

    def _control(self, command: str) -> None:
        subprocess.run(["postfix", "-c", str(self.etc), command], check=command == "start")
        # "stop" returns before the master is gone; wait so the next relay has the CPU.
        deadline = time.monotonic() + 15
        while command == "stop" and running(self.root_pid) and time.monotonic() < deadline:
            time.sleep(0.1)


def sluice_config(
    workdir: Path,
    name: str,
    sink_port: int,
    *,
    workers: int,
    dkim: bool,
    redis: str,
    policy: bool = False,
) -> tuple[Path, int]:
    """Write one Sluice configuration; return its path and SMTP port."""
    base = workdir / name
    base.mkdir(parents=True, exist_ok=True)
    port = free_port()
    keys = (
        f"[{{domain: bench.example, selector: r, key_file: {workdir}/r.pem}},"
        f" {{domain: bench.example, selector: e, key_file: {workdir}/e.pem}}]"
        if dkim
        else "[]"
    )
    lines = [
        f'smtp: {{listen: "127.0.0.1:{port}", hostname: bench.test, max_connections: 2000,'
        f" max_connections_per_client: 2000, workers: {workers}}}",
        f'http: {{admin_listen: "127.0.0.1:{free_port()}",'
        f' public_listen: "127.0.0.1:{free_port()}"}}',
        f'database: "sqlite:///{base}/sluice.db"',
        f"downstream: {{host: 127.0.0.1, port: {sink_port}, pool_size: 60, timeout: 30}}",
        "tenants:",
        "  - name: bench",
        "    pool: bench",
        '    trusted_networks: ["127.0.0.0/8"]',
        "    sender_domains: [bench.example]",
        f"    dkim: {keys}",
        "pools:",
        "  bench: [{ip: 192.0.2.10, vmta: bench-1, hostname: mta1.bench.example}]",
    ]
    if policy:
        # Every message takes the whole policy path: a warming IP with a schedule
        # roomy enough never to refuse (one atomic Redis reservation per RCPT),
        # then a warm one; 100,000 suppressed addresses in the mirror.
        today = time.strftime("%Y-%m-%d")
        lines[-1] = (
            "  bench: [{ip: 192.0.2.12, vmta: bench-3, hostname: mta3.bench.example,"
            f' warmup: {{schedule: roomy, started: "{today}"}}}},'
            " {ip: 192.0.2.10, vmta: bench-1, hostname: mta1.bench.example}]"
        )
        lines += ["warmup: {schedules: {roomy: {default: [100000000]}}}"]
    if workers > 1 or policy:
        # Extra workers share counters through Redis; a prefix of our own keeps
        # the benchmark's keys apart from anyone else's on the same server.
        lines += [f"redis: {redis}", f'redis_prefix: "{REDIS_PREFIX}{name}:"']
    path = base / "sluice.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path, port


def make_keys(workdir: Path) -> None:
    """RSA-2048 (selector r) and Ed25519 (selector e) keys for bench.example."""
    for selector, algorithm in (("r", "rsa"), ("e", "ed25519")):
        out = workdir / f"{selector}.pem"
        if not out.exists():
            subprocess.run(
                [SLUICE, "dkim-keygen", "--domain", "bench.example", "--selector", selector,
                 "--algorithm", algorithm, "--out", str(out)],
                check=True, stdout=subprocess.DEVNULL,
            )  # fmt: skip


class Sluice:
    """``sluice run`` on a generated configuration; ready once every process logged it."""

    def __init__(self, workdir: Path, name: str, sink_port: int, *, workers: int = 1,
                 dkim: bool = True, redis: str = "redis://127.0.0.1:6379/0",
                 policy: bool = False):  # fmt: skip
        self.name = name
        self.workers = workers
        self.config, self.port = sluice_config(
            workdir, name, sink_port, workers=workers, dkim=dkim, redis=redis, policy=policy
        )
        self.log = self.config.parent / "sluice.log"
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def root_pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    async def start(self, timeout: float = 30.0, attempts: int = 3) -> None:
        # With several workers, every process opens the same SQLite file at once and
        # one can die with "database is locked" while switching it to WAL; the
        # second start finds the file ready. Retried, and said so in the output.
        for attempt in range(1, attempts + 1):
            if await self._start_once(timeout):
                return
            await self.stop()
            if attempt < attempts:
                print(f"  {self.name}: a process failed to start, retrying", flush=True)
        tail = self.log.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"{self.name} did not start; its log ends:\n{tail}")

    async def _start_once(self, timeout: float) -> bool:
        """Start; True once every process logged "sluice ready", False if one failed."""
        offset = self.log.stat().st_size if self.log.exists() else 0
        log = self.log.open("ab")
        self.proc = await asyncio.create_subprocess_exec(
            SLUICE, "run", "-c", str(self.config), cwd=self.config.parent,
            stdout=subprocess.DEVNULL, stderr=log,
        )  # fmt: skip
        log.close()
        deadline = time.monotonic() + timeout
        # Each worker logs its own "sluice ready" once it listens.
        while time.monotonic() < deadline and self.proc.returncode is None:
            text = self.log.read_text(errors="replace")[offset:]
            if "Traceback" in text:
                return False
            if text.count("sluice ready") >= self.workers:
                return True
            await asyncio.sleep(0.1)
        return False

    async def stop(self) -> None:
        # SIGTERM to the first process; it passes the signal on to its workers.
        if self.proc is not None:
            await terminate(self.proc, timeout=40)
