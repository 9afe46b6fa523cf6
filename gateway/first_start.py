"""The embedded default's admin token: made at first start, shown once, kept hashed.

The quick start runs with no configuration file, so no ``http.admin_tokens``:
the status page would refuse everyone and not say why. With the embedded
default (and only then), the first start makes an admin token, prints it once,
and keeps its SHA-256 in ``var/admin-token.sha256``; every later start (and
reload) reads the digest back, as ``http.admin_tokens`` would hold it. A
configuration file of one's own never gets one: its tokens are its own.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import sys
from collections.abc import Mapping
from pathlib import Path

from conf import ConfigError, Settings
from conf.schema import AdminToken

DIGEST_FILE = Path("var/admin-token.sha256")
NAME = "local-admin"


def embedded(config_path: str | None, environ: Mapping[str, str] = os.environ) -> bool:
    return not (config_path or environ.get("SLUICE_CONFIG"))


def with_local_admin(
    settings: Settings, config_path: str | None, environ: Mapping[str, str] = os.environ
) -> Settings:
    """``settings`` with the local admin token added, for the embedded default without one."""
    if not embedded(config_path, environ) or settings.http.admin_tokens:
        return settings
    token = AdminToken(name=NAME, token_sha256=_digest(), role="admin")
    http = settings.http.model_copy(update={"admin_tokens": (token,)})
    return settings.model_copy(update={"http": http})


def _digest() -> str:
    try:
        return DIGEST_FILE.read_text().strip()
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise ConfigError(str(DIGEST_FILE), [f"cannot read the file: {exc.strerror}"]) from None
    token = secrets.token_urlsafe(32)
    value = hashlib.sha256(token.encode()).hexdigest()
    DIGEST_FILE.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(DIGEST_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value + "\n")
    print(
        f"sluice: status page and admin API token (shown once, kept hashed in {DIGEST_FILE}):\n"
        f"    {token}\n"
        f"  lost it? delete {DIGEST_FILE} and start again for a new one",
        file=sys.stderr,
        flush=True,
    )
    return value
