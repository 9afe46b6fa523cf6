"""The gateway's Prometheus metrics (served by the admin listener)."""

from prometheus_client import Counter, Gauge, Histogram

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
CONNECTIONS = Gauge("sluice_smtp_connections", "Open SMTP client connections")
DOWNSTREAM_IN_USE = Gauge("sluice_downstream_pool_in_use", "Downstream connections in use")
DOWNSTREAM_OPEN = Gauge("sluice_downstream_pool_open", "Downstream connections open")
DOWNSTREAM_BREAKER_OPEN = Gauge("sluice_downstream_breaker_open", "1 while the breaker is open")
BARE_NEWLINES = Counter("sluice_bare_newlines_total", "Bare CR or LF found in DATA")
AUTH_FAILURES = Counter("sluice_auth_failures_total", "Failed SMTP AUTH attempts")
CONFIG_RELOADS = Counter("sluice_config_reloads_total", "Configuration reloads", ["result"])
