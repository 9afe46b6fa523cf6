"""The listeners and the way out: SMTP in, HTTP (admin and public), downstream MTA."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from conf.schema.base import Section
from conf.schema.rules import (
    ExistingFile,
    HostName,
    HostPort,
    Networks,
    Port,
    PositiveFloat,
    PositiveInt,
    Sha256Hex,
)


class TlsSettings(Section):
    cert_file: ExistingFile
    key_file: ExistingFile


class SmtpSettings(Section):
    listen: HostPort = "127.0.0.1:2525"
    hostname: HostName = "localhost"
    max_message_size: PositiveInt = 26_214_400
    max_connections: PositiveInt = 500
    max_connections_per_client: PositiveInt = 50
    # Processes sharing the listening port with SO_REUSEPORT.
    workers: PositiveInt = 1
    tls: TlsSettings | None = None
    # Idle time allowed between client commands (RFC 5321 §4.5.3.2 asks 5 minutes).
    timeout: PositiveFloat = 300.0
    # Idle time allowed before a session authenticates or sends its first MAIL: a
    # client that never gets to work should not hold a connection slot for 5 minutes.
    pre_mail_timeout: PositiveFloat = 30.0
    # Commands that move no mail (NOOP, RSET, HELO, EHLO, VRFY, HELP) in a row before
    # the session is ended with 421 4.7.0.
    max_idle_commands: PositiveInt = 20
    # Seconds the greeting waits, to catch clients that talk before it (554 5.5.1);
    # a client that talks first is refused whatever this is.
    greeting_delay: float = Field(default=0.0, ge=0, le=30)
    # How long the sender waits for our reply to its final "." before it counts the
    # message failed: MailWizz's delivery-server "Timeout" (30 s by default). The
    # relay to PowerMTA must end well inside it (see timeout_warnings).
    upstream_timeout: PositiveFloat = 30.0
    # SIGTERM: how long in-flight transactions may take to finish.
    drain_timeout: PositiveFloat = 30.0
    # Bare CR or LF in DATA: rewrite to CRLF, or refuse with 550 5.5.2.
    line_endings: Literal["normalize", "reject"] = "normalize"
    # Failed AUTH attempts per client address before it is turned away for auth_lockout seconds.
    auth_failure_limit: PositiveInt = 5
    auth_lockout: PositiveFloat = 300.0
    max_recipients: PositiveInt = 1000
    # The listener for DSNs, complaints and mailto: unsubscribes to the tenants'
    # bounce domains (e.g. "0.0.0.0:25"); null: not started.
    inbound_listen: HostPort | None = None
    # The host name senders (MailWizz) connect to, when it is not smtp.hostname
    # (a load balancer or a NAT in front); absent: smtp.hostname.
    advertised_host: HostName | None = None


class AdminToken(Section):
    name: str  # who, in the audit log
    # The SHA-256 of the bearer token: the file never holds the token itself.
    token_sha256: Sha256Hex
    # viewer reads; operator also acts on IPs, switches and suppression; admin also reloads.
    role: Literal["admin", "operator", "viewer"] = "viewer"


class HttpSettings(Section):
    admin_listen: HostPort = "127.0.0.1:8025"
    public_listen: HostPort = "127.0.0.1:8080"
    # Bearer tokens of the admin API and the status page; none: both refuse everyone.
    admin_tokens: tuple[AdminToken, ...] = ()
    # Failed logins per client address before each further try waits auth_lockout seconds.
    auth_failure_limit: PositiveInt = 5
    auth_lockout: PositiveFloat = 60.0
    # Seconds a status-page login lasts.
    session_ttl: PositiveFloat = 43200.0
    # Clients that may scrape /metrics without a token (it names tenants and IPs);
    # any other client presents an admin token of any role as a bearer token.
    metrics_networks: Networks = ("127.0.0.0/8", "::1/128")
    # Reverse proxies whose X-Forwarded-For names the client: login brakes and
    # tracking records key on the client it reports, not on the proxy.
    trusted_proxies: Networks = ("127.0.0.0/8", "::1/128")

    def problems(self) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        names: set[str] = set()
        for i, token in enumerate(self.admin_tokens):
            if token.name in names:
                out.append((f"admin_tokens[{i}].name", f"duplicate token name {token.name!r}"))
            names.add(token.name)
        return out


class DownstreamSettings(Section):
    # When set, messages go to this outbox folder instead of an MTA (dry run).
    sink: str | None = None
    # Where a dry-run switch sends a tenant's messages instead of the MTA.
    dry_run_outbox: str = "var/dry-run"
    host: str = "127.0.0.1"
    port: Port = 25
    pool_size: PositiveInt = 20
    # Seconds one relay may take, from waiting for a pooled connection to PowerMTA's
    # reply to ".": below smtp.upstream_timeout with RELAY_MARGIN to spare, or the
    # sender gives up on a message PowerMTA then sends.
    timeout: PositiveFloat = 20.0
    connect_timeout: PositiveFloat = 5.0
    starttls: bool = False
    username: str | None = None
    password: str | None = None
    helo: HostName | None = None
    # Circuit breaker: consecutive connection failures that open it, and the
    # seconds between probes while it is open (connect, EHLO, QUIT on its own,
    # so readiness heals with no message to try).
    breaker_failures: PositiveInt = 5
    breaker_reset: PositiveFloat = 5.0
    # Idle pooled connections older than this are closed rather than reused.
    max_idle: PositiveFloat = 30.0


class PolicySettings(Section):
    # Each process re-reads switches, IP states and new suppressions this often:
    # a kill switch takes effect everywhere within this many seconds.
    refresh: PositiveFloat = 0.5
    # With the store unreachable, mail flows on the cached policy this long,
    # then waits (451 4.3.0) rather than risk mailing a suppressed address.
    max_stale: PositiveFloat = 300.0


# After the relay, before the sender hears our reply: settling the quota (up to 2 s),
# writing the spool when PowerMTA deferred (an fsync), the network.
RELAY_MARGIN = 5.0


def timeout_warnings(smtp: SmtpSettings, downstream: DownstreamSettings) -> list[str]:
    """What ``check-config`` warns about timeouts that are valid but unwise."""
    spare = smtp.upstream_timeout - downstream.timeout
    if spare >= RELAY_MARGIN:
        return []
    return [
        f"downstream.timeout ({downstream.timeout:g}s) leaves {spare:g}s of "
        f"smtp.upstream_timeout ({smtp.upstream_timeout:g}s, the sender's SMTP timeout); "
        f"keep it at least {RELAY_MARGIN:g}s below, or the sender may count as failed "
        "a message PowerMTA then sends"
    ]
