"""The directory where the processes of a daemon with SMTP workers keep their metrics.

Each forked worker counts its own SMTP traffic; ``/metrics`` is served by the
first process only. prometheus_client's multiprocess mode makes every process
write its values to files in one directory, which the serving process sums
at scrape time. The mode is chosen once, when prometheus_client is first
imported, by the presence of ``PROMETHEUS_MULTIPROC_DIR``, so this runs
before anything imports it, and it imports nothing of prometheus_client itself.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ENV = "PROMETHEUS_MULTIPROC_DIR"


@dataclass(frozen=True)
class MetricsDir:
    path: str | None  # None: one process, values in memory
    owner: int  # the process that made the directory removes it
    made: bool  # made here (removed at exit), not named by the operator (kept)

    def close(self) -> None:
        if self.path is not None and self.made and os.getpid() == self.owner:
            shutil.rmtree(self.path, ignore_errors=True)


def prepare(workers: int) -> MetricsDir:
    """Point prometheus_client at a shared directory when more than one process serves SMTP.

    An operator's ``PROMETHEUS_MULTIPROC_DIR`` is used (and its files of an
    earlier run removed: they would be summed into this run's counters), else
    a private directory is made and removed at exit.
    """
    named = os.environ.get(ENV)
    if named and os.environ.get("SLUICE_SMTP_WORKER"):
        # A replacement worker joins its parent's directory: the files are the live run's.
        return MetricsDir(named, os.getpid(), made=False)
    if workers <= 1 and not named:
        return MetricsDir(None, os.getpid(), made=False)
    if "prometheus_client" in sys.modules:
        raise RuntimeError(
            "prometheus_client was imported before the metrics directory was set:"
            " the SMTP workers' metrics would not reach /metrics"
        )
    if named:
        Path(named).mkdir(parents=True, exist_ok=True)
        for stale in Path(named).glob("*.db"):
            stale.unlink()
        return MetricsDir(named, os.getpid(), made=False)
    path = tempfile.mkdtemp(prefix="sluice-metrics-")
    os.environ[ENV] = path
    return MetricsDir(path, os.getpid(), made=True)
