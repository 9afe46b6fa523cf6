"""Real PostgreSQL and Redis for tests: one schema and one key prefix per test run.

Locally a missing server skips its tests with a one-line reason; on CI
(``CI=true``) a missing server is a failure, because the machine has both.
The same holds for anything else a test needs (`unavailable`).
"""

from __future__ import annotations

import os
import secrets
import socket
from typing import NoReturn

PG_DSN = os.environ.get("SLUICE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("SLUICE_TEST_REDIS", "redis://127.0.0.1:6379/0")
ON_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

# One run, one namespace: parallel runs on a shared machine never see each other's data.
RUN_ID = f"{os.getpid()}_{secrets.token_hex(3)}"
PG_SCHEMA = f"sluice_test_{RUN_ID}"
REDIS_PREFIX = f"sluice-test-{RUN_ID}:"


def reachable(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def unavailable(message: str) -> NoReturn:
    """Skip the calling test here; fail it on CI, whose machine has everything tests need."""
    import pytest

    if ON_CI:
        pytest.fail(f"{message} (on CI a test that cannot run fails rather than skips)")
    pytest.skip(message)


def host_port(url: str, default_port: int) -> tuple[str, int]:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or default_port
