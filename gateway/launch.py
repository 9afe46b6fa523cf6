"""``sluice run``: the configuration, then the metrics directory, then the daemon.

The daemon's modules import prometheus_client, which has to see the shared
metrics directory of a daemon with SMTP workers before its first import
(``gateway.metrics_dir``); so they are imported here, after it is set.
"""

from __future__ import annotations

import sys

from conf import ConfigError, load
from gateway import first_start, metrics_dir, startup


def serve(config_path: str | None) -> int:
    """Run the daemon until SIGTERM; the exit code for the process."""
    try:
        settings = first_start.with_local_admin(load(config_path), config_path)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    shared = metrics_dir.prepare(settings.smtp.workers)
    try:
        from gateway import daemon

        return daemon.serve(config_path, settings)
    except Exception as exc:
        if (told := startup.explain(exc)) is None:
            raise  # not a failure we know: its traceback is the report
        print(f"sluice: {told}", file=sys.stderr)
        return 1
    finally:
        shared.close()
