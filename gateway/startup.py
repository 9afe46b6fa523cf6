"""Start-up failures said in one or two lines: what failed, then what to do.

An operator starting Sluice for the first time meets a refused database role,
a Redis that is not running or a port already taken; a 60-line traceback
hides the one line that matters. ``explain`` turns the failures we know into
that line and a hint; anything else keeps its traceback (it is a bug).
"""

from __future__ import annotations

import errno
from urllib.parse import urlsplit, urlunsplit


class StartupError(Exception):
    """A failure with its remedy, printed as is (no traceback)."""


def redact(url: str) -> str:
    """``url`` without its password, fit for a log line."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    user = f"{parts.username}:***@" if parts.username else ""
    return urlunsplit(parts._replace(netloc=user + host))


def one_line(exc: BaseException) -> str:
    """The exception's message on one line, with its type when the message is empty."""
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def database(url: str, exc: BaseException) -> StartupError:
    """The store would not open: name it and say what to check."""
    where = redact(url)
    if url.startswith("sqlite"):
        hint = "check that the folder exists and the sluice user may write to it"
    else:
        hint = (
            "check that PostgreSQL runs, that the role and database exist "
            "(README: Install) and that pg_hba.conf lets this host in"
        )
    return StartupError(f"database {where}: {one_line(exc)}\n  {hint}")


def redis(url: str, exc: BaseException) -> StartupError:
    where = redact(url)
    return StartupError(
        f"redis {where}: {one_line(exc)}\n"
        "  start Redis (systemctl start redis), or fix the redis: setting"
    )


def explain(exc: BaseException) -> str | None:
    """One or two lines for a known start-up failure; None for anything else."""
    if isinstance(exc, StartupError):
        return str(exc)
    if isinstance(exc, OSError) and exc.errno == errno.EADDRINUSE:
        return (
            f"cannot listen: {one_line(exc)}\n"
            "  another process holds that address: stop it, or change the listen setting "
            "(smtp.listen, smtp.inbound_listen, http.admin_listen, http.public_listen)"
        )
    if isinstance(exc, PermissionError | OSError) and exc.errno == errno.EACCES:
        return (
            f"permission denied: {one_line(exc)}\n"
            "  ports under 1024 need CAP_NET_BIND_SERVICE (the unit grants it); "
            "files need the sluice user's ownership"
        )
    return None
