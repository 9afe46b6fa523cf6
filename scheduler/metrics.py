"""The sibling tasks' Prometheus metrics: feedback counted, each task's last success and failures.

The supervisor (``scheduler.supervisor``) calls ``task_started`` once per
task and ``task_succeeded`` at the end of each round that worked. The lag
(how late the task is against its interval) is computed when Prometheus
scrapes, so a task that hangs or fails every round shows a lag that keeps
growing, even though it never reports again.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from prometheus_client import REGISTRY, Counter, Gauge
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from policy.bounces import reasons as bounce_reasons
from policy.events import Event
from policy.feedback.decision import Decision, Feedback

FEEDBACK = Counter(
    "sluice_feedback_total",
    "Feedback recorded (bounced, complained, auto_replied, delayed), by tenant and the"
    " reason of the bounce taxonomy (policy.bounces)",
    ["tenant", "kind", "reason"],
)
# The tasks run in the first process only; with SMTP workers, its value is the one shown.
TASK_LAST_SUCCESS = Gauge(
    "sluice_task_last_success_timestamp_seconds",
    "When the task last finished a pass without error (Unix time)",
    ["task"],
    multiprocess_mode="livemostrecent",
)
TASK_INTERVAL = Gauge(
    "sluice_task_interval_seconds",
    "How long the task waits between passes",
    ["task"],
    multiprocess_mode="livemostrecent",
)
TASK_FAILURES = Counter(
    "sluice_task_failures_total",
    "Rounds of the task that raised (each is tried again after a backoff)",
    ["task"],
)
FEEDBACK_UNMATCHED = Counter(
    "sluice_feedback_unmatched_total",
    "Feedback that acted on nothing: no token, a forged or expired one, or one issued"
    " for another recipient, by source (dsn, arf, acct, webhook, mailto)",
    ["source"],
)
NO_TENANT = "-"  # feedback whose message could not be traced to a tenant


def count_unmatched(source: str, n: int = 1) -> None:
    if n:
        FEEDBACK_UNMATCHED.labels(source).inc(n)


def count_feedback(
    pending: Sequence[tuple[Feedback, Decision, Event]], fresh: Sequence[Event]
) -> None:
    """Count the feedback whose events the store took as new (a re-read counts nothing)."""
    new = {id(event) for event in fresh}
    for fb, decision, event in pending:
        if decision.event is None or id(event) not in new:
            continue
        reason = fb.report.reason
        if reason not in bounce_reasons.KIND_OF:  # e.g. a provider's own word (SES)
            reason = bounce_reasons.UNDEFINED
        FEEDBACK.labels(fb.origin.tenant or NO_TENANT, decision.event, reason).inc()


@dataclass
class _Watch:
    interval: float
    since: float  # the last success, or when the task started before its first one


_WATCHED: dict[str, _Watch] = {}


def task_started(task: str, interval: float, now: float | None = None) -> None:
    """The task runs: its lag counts from now until its first success."""
    _WATCHED[task] = _Watch(interval, time.time() if now is None else now)
    TASK_INTERVAL.labels(task).set(interval)


def task_succeeded(task: str, interval: float, now: float | None = None) -> None:
    """A round finished without error; ``interval`` is the current one (a reload may change it)."""
    now = time.time() if now is None else now
    _WATCHED[task] = _Watch(interval, now)
    TASK_INTERVAL.labels(task).set(interval)
    TASK_LAST_SUCCESS.labels(task).set(now)


def lag(task: str, now: float | None = None) -> float | None:
    """Seconds past the moment the next success was due; 0 when on time, None if not watched."""
    watch = _WATCHED.get(task)
    if watch is None:
        return None
    return lateness(watch.since, watch.interval, time.time() if now is None else now)


def lateness(since: float, interval: float, now: float) -> float:
    """How late the next success is: time since ``since`` beyond ``interval``, at least 0."""
    return max(0.0, now - since - interval)


class _LagCollector(Collector):
    NAME = "sluice_task_lag_seconds"
    HELP = "How late the task is: time since its last success (or start) beyond its interval"

    def describe(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily(self.NAME, self.HELP, labels=["task"])

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(self.NAME, self.HELP, labels=["task"])
        now = time.time()
        for task in list(_WATCHED):
            value = lag(task, now)
            if value is not None:
                family.add_metric([task], value)
        yield family


LAG = _LagCollector()
REGISTRY.register(LAG)
