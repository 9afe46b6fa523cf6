"""The gateway's Prometheus metrics (served by the admin listener).

Labels carry configured values and fixed vocabularies only (tenants, pools,
pool IPs, pipeline step names, outcomes, enhanced status codes), never a
recipient, a domain or free text, so the number of series stays bounded.
The per-message counters go through small caches of bound children: the
label lookup of ``Counter.labels`` is paid once per label set, not per message.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from prometheus_client import Counter, Gauge, Histogram, multiprocess

from policy.metrics import multiprocess as shared_values

if TYPE_CHECKING:
    from gateway.pipeline import Transaction
    from gateway.replies import Verdict

TRANSACTIONS = Counter(
    "sluice_transactions_total", "Transactions that reached DATA, by outcome", ["tenant", "result"]
)
RELAY_SECONDS = Histogram(
    "sluice_relay_seconds",
    "From MAIL to the final reply",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
STEP_VERDICTS = Counter(
    "sluice_step_verdicts_total", "Verdicts given by pipeline steps", ["step", "code"]
)
# With SMTP workers each process has its own connections, pool and breaker:
# /metrics shows the sum over the processes alive (the breaker: 1 if any is open).
CONNECTIONS = Gauge(
    "sluice_smtp_connections", "Open SMTP client connections", multiprocess_mode="livesum"
)
DOWNSTREAM_IN_USE = Gauge(
    "sluice_downstream_pool_in_use", "Downstream connections in use", multiprocess_mode="livesum"
)
DOWNSTREAM_OPEN = Gauge(
    "sluice_downstream_pool_open", "Downstream connections open", multiprocess_mode="livesum"
)
DOWNSTREAM_BREAKER_OPEN = Gauge(
    "sluice_downstream_breaker_open", "1 while the breaker is open", multiprocess_mode="livemax"
)
BARE_NEWLINES = Counter("sluice_bare_newlines_total", "Bare CR or LF found in DATA")
AUTH_FAILURES = Counter("sluice_auth_failures_total", "Failed SMTP AUTH attempts")
CONFIG_RELOADS = Counter("sluice_config_reloads_total", "Configuration reloads", ["result"])

MESSAGES = Counter(
    "sluice_messages_total",
    "Messages that reached DATA, by tenant, pool, sending IP and result"
    " (relayed, deferred, rejected, possible_duplicate)",
    ["tenant", "pool", "ip", "result"],
)
REFUSALS = Counter(
    "sluice_refusals_total",
    "SMTP commands refused (deferred: 4xx, rejected: 5xx), by the pipeline step that"
    " answered and the enhanced status code of the reply",
    ["tenant", "step", "result", "enhanced"],
)
DOWNSTREAM_SECONDS = Histogram(
    "sluice_downstream_seconds",
    "One SMTP conversation with the next hop, from taking a connection to the reply"
    " to the message, by outcome",
    ["outcome"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)

NO_TENANT = "-"  # before AUTH, or a client no tenant owns
# RFC 3463 codes: class, subject 0-7, a detail of one or two digits. Anything
# else the next hop says is counted under its class alone.
_ENHANCED = re.compile(r"[245]\.[0-7]\.\d{1,2}")

_messages: dict[tuple[str, str, str, str], Any] = {}
_refusals: dict[tuple[str, str, str, str], Any] = {}
_downstream: dict[str, Any] = {}


def enhanced_label(enhanced: str) -> str:
    """The enhanced code as a label value: itself when well formed, else its class."""
    if _ENHANCED.fullmatch(enhanced):
        return enhanced
    return f"{enhanced[:1]}.0.0" if enhanced[:1] in ("2", "4", "5") else "unknown"


def count_message(tenant: str, pool: str, ip: str, result: str) -> None:
    key = (tenant, pool, ip, result)
    child = _messages.get(key)
    if child is None:
        child = _messages[key] = MESSAGES.labels(*key)
    child.inc()


def count_refusal(tx: Transaction, step: str, verdict: Verdict) -> None:
    """A step's 4xx or 5xx answer (a 2xx is not a refusal and is not counted)."""
    if verdict.code < 400:
        return
    tenant = tx.session.tenant.name if tx.session.tenant is not None else NO_TENANT
    result = "deferred" if verdict.code < 500 else "rejected"
    key = (tenant, step, result, enhanced_label(verdict.enhanced))
    child = _refusals.get(key)
    if child is None:
        child = _refusals[key] = REFUSALS.labels(*key)
    child.inc()


def observe_downstream(outcome: str, seconds: float) -> None:
    child = _downstream.get(outcome)
    if child is None:
        child = _downstream[outcome] = DOWNSTREAM_SECONDS.labels(outcome)
    child.observe(seconds)


def worker_exited(pid: int) -> None:
    """Drop a dead worker's live gauges (its counters stay: they are still its traffic)."""
    if shared_values():
        multiprocess.mark_process_dead(pid)
