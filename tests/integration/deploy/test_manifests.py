"""The Kubernetes examples in deploy/ stay true to the binary: every embedded
configuration passes `brokerside --check-config`, and probes and ports point
at the listeners that configuration opens."""

from pathlib import Path

import pytest
import yaml

from conftest import run_binary

DEPLOY = Path(__file__).resolve().parents[3] / "deploy"


def documents(name):
    return [d for d in yaml.safe_load_all((DEPLOY / name).read_text()) if d]


@pytest.mark.parametrize("name", ["sidecar.yaml", "daemonset.yaml"])
def test_manifest_configuration_is_valid_and_probes_match(name, tmp_path, monkeypatch):
    docs = documents(name)
    config_map = next(d for d in docs if d["kind"] == "ConfigMap")
    text = config_map["data"]["brokerside.yaml"]
    config = yaml.safe_load(text)
    path = tmp_path / "brokerside.yaml"
    path.write_text(text)
    # Secrets the manifests mount or inject, stood in for by test values.
    for target in config["targets"].values():
        if "password_file" in target:
            secret = tmp_path / "secret"
            secret.write_text("test-password\n")
            target["password_file"] = str(secret)
    path.write_text(yaml.safe_dump(config))
    env = {"AMQP_PASSWORD": "test-password", "PATH": "/usr/bin:/bin"}
    code, out, err = run_binary(f"--config={path}", "--check-config", env=env)
    assert code == 0, err
    assert "is valid" in out

    workload = next(d for d in docs if d["kind"] in ("Deployment", "DaemonSet"))
    spec = workload["spec"]["template"]["spec"]
    containers = spec.get("initContainers", []) + spec["containers"]
    sidecar = next(c for c in containers if c["name"] == "brokerside")
    ports = {p["name"]: p["containerPort"] for p in sidecar["ports"]}
    admin_port = int(config["listen"]["admin"].rsplit(":", 1)[1])
    assert ports["admin"] == admin_port
    assert config["listen"]["admin"].startswith("0.0.0.0:"), "the kubelet probes the pod IP"
    grace = int(config["server"]["shutdown_grace"].rstrip("s"))
    assert spec["terminationGracePeriodSeconds"] > grace
    for probe in ("livenessProbe", "readinessProbe"):
        p = sidecar[probe]
        if "httpGet" in p:
            assert p["httpGet"]["port"] in ("admin", admin_port)
        else:
            assert p["grpc"]["port"] == int(config["listen"]["grpc"].rsplit(":", 1)[1])
