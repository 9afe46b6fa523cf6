"""The Grafana dashboard and the alert rules name only metrics a real ``/metrics`` serves."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import aiohttp
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

import policy.engagement  # noqa: F401  (declares sluice_engagement_total, as in the daemon)
import scheduler.feedback_service  # noqa: F401  (declares the feedback and task metrics)
from tests.support.admin_api import serve_admin
from tests.support.harness import send

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "admin" / "prometheus" / "alerts.yml"
DASHBOARD = ROOT / "admin" / "grafana" / "sluice.json"
METRIC = re.compile(r"(?<![\w:$])sluice_[A-Za-z0-9_:]*")
# What Grafana puts in place of its variables, so promtool can read a panel's query.
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$tenant": ".*", "$pool": ".*"}
SECTIONS = (
    "Traffic",
    "Quotas per IP and provider group",
    "IP states and warmup days",
    "Bounces and complaints",
    "Tracking",
    "Downstream (PowerMTA)",
    "Scheduler tasks",
)
SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("_sum", "_count", "_created"),
}


def rules() -> list[dict]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def panels(items: list[dict] | None = None) -> list[dict]:
    """Every panel of the dashboard, those inside collapsed rows too."""
    items = json.loads(DASHBOARD.read_text())["panels"] if items is None else items
    out = []
    for panel in items:
        out.append(panel)
        out.extend(panels(panel.get("panels", [])))
    return out


def dashboard_queries() -> list[str]:
    model = json.loads(DASHBOARD.read_text())
    queries = [t["expr"] for p in panels() for t in p.get("targets", [])]
    return queries + [v["definition"] for v in model["templating"]["list"]]


def test_alert_rules_carry_for_severity_and_annotations():
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    assert len({g["name"] for g in groups}) == len(groups)
    found = {rule["alert"] for rule in rules()}
    assert {
        "SluiceIpQuarantined",
        "SluiceBounceRateHigh",
        "SluiceComplaintRateHigh",
        "SluiceDownstreamBreakerOpen",
        "SluiceTenantQuotaExhausted",
        "SluiceTaskStalled",
    } <= found
    for rule in rules():
        assert set(rule) == {"alert", "expr", "for", "labels", "annotations"}, rule["alert"]
        assert re.fullmatch(r"\d+[smh]", rule["for"]), rule["alert"]
        assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
        assert METRIC.search(rule["expr"]), rule["alert"]
    complaint = [r for r in rules() if r["alert"] == "SluiceComplaintRateHigh"]
    levels = {r["labels"]["severity"]: r["expr"] for r in complaint}
    assert "> 0.001" in levels["warning"] and "> 0.003" in levels["critical"]


def test_dashboard_is_an_importable_grafana_model():
    model = json.loads(DASHBOARD.read_text())
    assert [i["name"] for i in model["__inputs"]] == ["DS_PROMETHEUS"]
    variables = {v["name"]: v for v in model["templating"]["list"]}
    assert set(variables) == {"tenant", "pool"}
    for v in variables.values():
        assert v["type"] == "query" and v["definition"].startswith("label_values(")
        assert v["datasource"]["uid"] == "${DS_PROMETHEUS}"
    everything = panels()
    assert [p["title"] for p in everything if p["type"] == "row"] == list(SECTIONS)
    assert len({p["id"] for p in everything}) == len(everything)
    for panel in everything:
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "${DS_PROMETHEUS}", panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${DS_PROMETHEUS}", panel["title"]
    # Panels on one line never overlap.
    cells = set()
    for panel in everything:
        g = panel["gridPos"]
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, panel["title"]
                cells.add((x, y))
        assert g["x"] + g["w"] <= 24


async def served_names(url: str) -> set[str]:
    async with aiohttp.ClientSession() as http, http.get(f"{url}/metrics") as resp:
        assert resp.status == 200
        text = await resp.text()
    names = set()
    for family in text_string_to_metric_families(text):
        names.add(family.name)
        names.update(family.name + suffix for suffix in SUFFIXES.get(family.type, ()))
        names.update(sample.name for sample in family.samples)
    return names


async def test_every_metric_a_panel_or_an_alert_names_is_served(gateway, sink):
    assert (await send(gateway.port))[0] == 250
    async with serve_admin(
        gateway.rt.settings,
        gateway.store,
        counters=gateway.rt.counters,
        policy=gateway.rt.policy,
    ) as server:
        served = await served_names(server.url)
    assert "sluice_ip_state" in served and "sluice_messages_total" in served
    wanted: dict[str, set[str]] = {}
    for rule in rules():
        for name in METRIC.findall(rule["expr"]):
            wanted.setdefault(name, set()).add(f"alert {rule['alert']}")
    for query in dashboard_queries():
        for name in METRIC.findall(query):
            wanted.setdefault(name, set()).add("dashboard")
    assert len(wanted) >= 20
    missing = {name: sorted(where) for name, where in wanted.items() if name not in served}
    assert missing == {}


def promtool() -> str | None:
    return os.environ.get("PROMTOOL") or shutil.which("promtool")


# Skips even on CI: scripts/test.sh fetches promtool best-effort (a Debian package it
# unpacks, when a mirror answers), and the tests above still parse and check every
# rule and query without it.
@pytest.mark.skipif(promtool() is None, reason="promtool not found (PATH or $PROMTOOL)")
def test_promtool_accepts_the_rules_and_every_panel_query(tmp_path):
    checked = subprocess.run(
        [promtool(), "check", "rules", str(ALERTS)], capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # The dashboard's queries, as recording rules: promtool parses each one.
    queries = [t["expr"] for p in panels() for t in p.get("targets", [])]
    for variable, value in GRAFANA_VARIABLES.items():
        queries = [q.replace(variable, value) for q in queries]
    recorded = [{"record": f"dashboard:query_{i}", "expr": q} for i, q in enumerate(queries)]
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": recorded}]}))
    checked = subprocess.run(
        [promtool(), "check", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
