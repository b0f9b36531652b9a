"""deploy/monitoring as Prometheus and Grafana would take it: the alert rules
pass `promtool check rules` and their unit tests (`promtool test rules`:
each alert fires on the series that should raise it); every query of the
Grafana dashboard is valid PromQL (checked by promtool as a recording rule,
Grafana's variables filled in) and, like every alert expression, names only
metric families that a running sidecar's /metrics really exports."""

import json
import re
import shutil
import subprocess
from pathlib import Path

import yaml

from conftest import http_get

MONITORING = Path(__file__).resolve().parents[3] / "deploy" / "monitoring"
METRIC = re.compile(r"\b((?:brokerside|process)_[a-z_]+)\b")


def promtool(*args, cwd=MONITORING):
    tool = shutil.which("promtool")
    assert tool, "promtool is missing: scripts/deps.sh installs Debian's prometheus package"
    return subprocess.run([tool, *args], capture_output=True, text=True, timeout=60, cwd=cwd)


def dashboard_queries():
    dashboard = json.loads((MONITORING / "grafana-dashboard.json").read_text())
    queries = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    queries += [v["definition"] for v in dashboard["templating"]["list"] if "definition" in v]
    return dashboard, queries


def exported_families(sidecar, brokers):
    """Metric names a sidecar with a Redis and an AMQP target exports:
    each family, and a histogram's _bucket, _sum and _count."""
    s = sidecar("--target", f"cache={brokers['BROKERSIDE_REDIS_URL']}",
                "--target", f"events={brokers['BROKERSIDE_AMQP_URL']}")
    status, text = http_get(s.admin_port, "/metrics")
    assert status == 200
    names = set()
    for family, kind in re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M):
        names.add(family)
        if kind == "histogram":
            names |= {family + "_bucket", family + "_sum", family + "_count"}
    return names


def test_alert_rules_pass_promtool_and_fire_as_their_unit_tests_say():
    checked = promtool("check", "rules", "alerts.rules.yaml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 8 rules found" in checked.stdout
    tested = promtool("test", "rules", "alerts.test.yaml")
    assert tested.returncode == 0, tested.stdout + tested.stderr
    alerts = {r["alert"] for g in yaml.safe_load((MONITORING / "alerts.rules.yaml").read_text())["groups"]
              for r in g["rules"]}
    covered = set(re.findall(r"alertname: (\w+)", (MONITORING / "alerts.test.yaml").read_text()))
    assert alerts == covered, f"alerts without a unit test: {alerts - covered}"


def test_every_dashboard_query_is_valid_promql(tmp_path):
    dashboard, queries = dashboard_queries()
    assert len(dashboard["panels"]) >= 10 and all(p["targets"] for p in dashboard["panels"])
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(set(ids)) == len(ids)
    rules = []
    for i, q in enumerate(queries):
        if q.startswith("label_values("):  # a Grafana template query: its metric is checked below
            continue
        expr = q.replace("$__rate_interval", "5m").replace("$target", ".*").replace("$pod", ".*")
        assert "$" not in expr, f"a Grafana variable left in {q}"
        rules.append({"record": f"dashboard:query_{i}", "expr": expr})
    path = tmp_path / "dashboard.rules.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    checked = promtool("check", "rules", str(path), cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_every_metric_the_dashboard_and_the_alerts_name_is_exported(sidecar, brokers):
    exported = exported_families(sidecar, brokers)
    _, queries = dashboard_queries()
    alert_exprs = [r["expr"] for g in yaml.safe_load((MONITORING / "alerts.rules.yaml").read_text())["groups"]
                   for r in g["rules"]]
    named = {m for q in queries + alert_exprs for m in METRIC.findall(q)}
    assert len(named) >= 20, named
    assert named <= exported, f"named but not exported: {sorted(named - exported)}"
