"""The Kubernetes manifests in deploy/ as a cluster and the binary would take
them: each overlay rendered with kustomize (pinned, built from the Go module
proxy by scripts/deps.sh) and validated strictly (unknown fields rejected)
against the Kubernetes schemas of 1.29, the first with native sidecars on by
default, and of 1.37, the newest kubernetes-validate bundles; then what no
schema knows: every embedded configuration passes `brokerside
--check-config`, probes point at the listeners it opens (gRPC probes by
number), the image and arguments agree with the Dockerfile, every container
has resources and a locked-down securityContext, the NetworkPolicy keeps the
gRPC port to the pod, and the PodMonitor finds both forms' pods."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import run_binary
from own_brokers import make_certificates

ROOT = Path(__file__).resolve().parents[3]
DEPLOY = ROOT / "deploy"
KUSTOMIZE = ROOT / ".cache" / "gobin" / "kustomize"
VALIDATE = Path(sys.executable).parent / "kubernetes-validate"
OVERLAYS = ["sidecar", "daemonset", "daemonset-tcp"]
IMAGE = "registry.example.com/brokerside:0.1.0"


def render(overlay):
    out = subprocess.run([str(KUSTOMIZE), "build", str(DEPLOY / "overlays" / overlay)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout


def validate(path, version):
    return subprocess.run([str(VALIDATE), "--strict", "--no-warn", "-k", version, str(path)],
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    out = {}
    for overlay in OVERLAYS:
        path = tmp_path_factory.mktemp(overlay) / "rendered.yaml"
        path.write_text(render(overlay))
        out[overlay] = (path, [d for d in yaml.safe_load_all(path.read_text()) if d])
    return out


def workload(docs):
    return next(d for d in docs if d["kind"] in ("Deployment", "DaemonSet"))


def brokerside_container(pod_spec):
    return next(c for c in pod_spec.get("initContainers", []) + pod_spec["containers"] if c["name"] == "brokerside")


@pytest.mark.parametrize("version", ["1.29.0", "1.37.0"])
def test_every_manifest_passes_strict_schema_validation(rendered, version):
    paths = [path for path, _ in rendered.values()] + [DEPLOY / "overlays" / "daemonset" / "app-example.yaml"]
    for path in paths:
        out = validate(path, version)
        assert out.returncode == 0, out.stdout + out.stderr
        assert "passed" in out.stdout


def test_the_validation_can_fail_a_native_sidecar_before_1_29(rendered):
    # The 1.27 schema has no restartPolicy on an init container: the check
    # sees the fields, it does not wave everything through.
    out = validate(rendered["sidecar"][0], "1.27.0")
    assert out.returncode != 0
    assert "'restartPolicy' was unexpected" in out.stdout + out.stderr


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_embedded_configuration_is_valid_and_the_probes_use_its_listeners(rendered, overlay, tmp_path):
    docs = rendered[overlay][1]
    spec = workload(docs)["spec"]["template"]["spec"]
    sidecar = brokerside_container(spec)
    # The configuration the pod mounts at the path its --config names.
    [config_arg] = [a for a in sidecar["args"] if a.startswith("--config=")]
    config_path = Path(config_arg.removeprefix("--config="))
    mount = next(m for m in sidecar["volumeMounts"] if m["mountPath"] == str(config_path.parent))
    volume = next(v for v in spec["volumes"] if v["name"] == mount["name"])
    config_map = next(d for d in docs if d["kind"] == "ConfigMap"
                      and d["metadata"]["name"] == volume["configMap"]["name"])
    text = config_map["data"][config_path.name]
    config = yaml.safe_load(text)
    # server.max_memory refuses new work before the container's limit is hit.
    units = {"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}
    size = lambda t: int(re.match(r"\d+", t).group()) * units[re.match(r"\d+(\D*)", t).group(1)]
    assert size(config["server"]["max_memory"]) < size(sidecar["resources"]["limits"]["memory"])

    # --check-config on it, with test stand-ins for the secrets it reads.
    for target in config["targets"].values():
        if "password_file" in target:
            secret_mount = next(m for m in sidecar["volumeMounts"]
                                if target["password_file"].startswith(m["mountPath"] + "/"))
            assert next(v for v in spec["volumes"] if v["name"] == secret_mount["name"])["secret"]
            secret = tmp_path / "secret"
            secret.write_text("test-password\n")
            target["password_file"] = str(secret)
    if "tls" in config["listen"]:
        # Mounted from a Secret, readable by the process's group.
        tls = config["listen"]["tls"]
        tls_dir = str(Path(tls["cert_file"]).parent)
        tls_mount = next(m for m in sidecar["volumeMounts"] if m["mountPath"] == tls_dir)
        assert next(v for v in spec["volumes"] if v["name"] == tls_mount["name"])["secret"]
        assert spec["securityContext"]["fsGroup"] == sidecar["securityContext"]["runAsGroup"]
        assert tls["client_ca_file"], "TCP on a shared node needs client certificates"
        make_certificates(tmp_path)
        tls.update(cert_file=str(tmp_path / "server.pem"), key_file=str(tmp_path / "server.key"),
                   client_ca_file=str(tmp_path / "ca.pem"))
    if "unix_socket" in config["listen"]:
        socket_dir = str(Path(config["listen"]["unix_socket"]).parent)
        socket_mount = next(m for m in sidecar["volumeMounts"] if m["mountPath"] == socket_dir)
        assert next(v for v in spec["volumes"] if v["name"] == socket_mount["name"])["hostPath"]
        config["listen"]["unix_socket"] = str(tmp_path / "brokerside.sock")
    path = tmp_path / "brokerside.yaml"
    path.write_text(yaml.safe_dump(config))
    env = {"PATH": "/usr/bin:/bin"}
    for e in sidecar.get("env", []):
        env[e["name"]] = e.get("value", "test-password")  # secretKeyRef stand-ins
    code, out, err = run_binary(f"--config={path}", "--check-config", env=env)
    assert code == 0, err
    assert "is valid" in out

    # Probes: gRPC ones by number at the gRPC listener, HTTP ones at admin.
    ports = {p["name"]: p["containerPort"] for p in sidecar["ports"]}
    admin_port = int(config["listen"]["admin"].rsplit(":", 1)[1])
    assert config["listen"]["admin"].startswith("0.0.0.0:"), "the kubelet probes the pod IP"
    assert ports["admin"] == admin_port
    grpc_listen = config["listen"].get("grpc", "127.0.0.1:7300")
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        p = sidecar[probe]
        if "grpc" in p:
            assert isinstance(p["grpc"]["port"], int), "gRPC probes take a number"
            assert grpc_listen.startswith("0.0.0.0:"), "the kubelet probes the pod IP"
            assert p["grpc"]["port"] == int(grpc_listen.rsplit(":", 1)[1])
            assert ports["grpc"] == p["grpc"]["port"]
        else:
            assert p["httpGet"]["port"] in ("admin", admin_port)
            assert p["httpGet"]["path"] in ("/healthz", "/readyz")
    if config.get("readiness", {}).get("required_targets"):
        assert sidecar["readinessProbe"]["httpGet"]["path"] == "/readyz"
    grace = int(config["server"]["shutdown_grace"].rstrip("s"))
    assert spec["terminationGracePeriodSeconds"] > grace


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_image_arguments_resources_and_security_agree_with_the_dockerfile(rendered, overlay):
    dockerfile = (ROOT / "Dockerfile").read_text()
    entrypoint = json.loads(re.search(r"^ENTRYPOINT (.*)$", dockerfile, re.M).group(1))
    assert entrypoint == ["/usr/local/bin/brokerside"], "args must replace CMD, not add to listeners"
    uid = re.search(r"^USER (\d+):(\d+)$", dockerfile, re.M).groups()
    exposed = {int(p) for p in re.search(r"^EXPOSE (.*)$", dockerfile, re.M).group(1).split()}

    spec = workload(rendered[overlay][1])["spec"]["template"]["spec"]
    sidecar = brokerside_container(spec)
    assert sidecar["image"] == IMAGE
    assert not any(a.startswith(("--listen", "--admin")) for a in sidecar["args"]), \
        "listeners come from the configuration"
    assert {p["containerPort"] for p in sidecar["ports"]} <= exposed
    sc = sidecar["securityContext"]
    assert (str(sc["runAsUser"]), str(sc["runAsGroup"])) == uid and sc["runAsNonRoot"] is True
    assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"] and "add" not in sc["capabilities"]
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert spec["automountServiceAccountToken"] is False
    for c in spec.get("initContainers", []) + spec["containers"]:
        assert c["resources"]["requests"]["memory"] and c["resources"]["limits"]["memory"], c["name"]


def test_the_sidecar_is_native_and_its_grpc_port_is_the_pods_own(rendered):
    docs = rendered["sidecar"][1]
    deployment = workload(docs)
    spec = deployment["spec"]["template"]["spec"]
    assert brokerside_container(spec)["restartPolicy"] == "Always"
    assert brokerside_container(spec) in spec["initContainers"]
    policy = next(d for d in docs if d["kind"] == "NetworkPolicy")
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= \
        deployment["spec"]["template"]["metadata"]["labels"].items()
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    opened = {p["port"] for rule in policy["spec"]["ingress"] for p in rule["ports"]}
    assert 7300 not in opened and 7301 in opened
    config = yaml.safe_load(next(d for d in docs if d["kind"] == "ConfigMap")["data"]["brokerside.yaml"])
    assert config["listen"]["grpc"] == "127.0.0.1:7300", "the app's alone: secure by default"


def test_the_daemonset_serves_the_node_on_a_socket_only_and_updates_one_node_at_a_time(rendered):
    docs = rendered["daemonset"][1]
    daemonset = workload(docs)
    assert daemonset["spec"]["updateStrategy"]["rollingUpdate"] == {"maxUnavailable": 1, "maxSurge": 0}
    spec = daemonset["spec"]["template"]["spec"]
    assert spec["priorityClassName"] in {d["metadata"]["name"] for d in docs if d["kind"] == "PriorityClass"}
    pdb = next(d for d in docs if d["kind"] == "PodDisruptionBudget")
    assert pdb["spec"]["selector"]["matchLabels"].items() <= daemonset["spec"]["template"]["metadata"]["labels"].items()
    assert "hostPort" not in str(spec)
    # The app example joins the socket's group and mounts the same directory.
    app = yaml.safe_load((DEPLOY / "overlays" / "daemonset" / "app-example.yaml").read_text())
    config = yaml.safe_load(next(d for d in docs if d["kind"] == "ConfigMap")["data"]["brokerside.yaml"])
    assert config["listen"]["grpc"] == ""
    app_spec = app["spec"]["template"]["spec"]
    assert config["listen"]["unix_socket_group"] in app_spec["securityContext"]["supplementalGroups"]
    assert app_spec["volumes"][0]["hostPath"]["path"] == str(Path(config["listen"]["unix_socket"]).parent)
    address = app_spec["containers"][0]["env"][0]["value"]
    assert address == "unix://" + config["listen"]["unix_socket"]


def test_the_podmonitor_finds_both_forms_pods_at_their_admin_port(rendered):
    monitor = yaml.safe_load((DEPLOY / "monitoring" / "podmonitor.yaml").read_text())
    selector = monitor["spec"]["selector"]["matchLabels"]
    [endpoint] = monitor["spec"]["podMetricsEndpoints"]
    for overlay in OVERLAYS:
        template = workload(rendered[overlay][1])["spec"]["template"]
        assert selector.items() <= template["metadata"]["labels"].items(), overlay
        assert endpoint["port"] in {p["name"] for p in brokerside_container(template["spec"])["ports"]}
        assert endpoint["path"] == template["metadata"]["annotations"]["prometheus.io/path"]


def test_the_tcp_form_keeps_calls_on_their_node_behind_mutual_tls(rendered):
    docs = rendered["daemonset-tcp"][1]
    service = next(d for d in docs if d["kind"] == "Service")
    daemonset = workload(docs)
    template = daemonset["spec"]["template"]
    assert service["spec"]["internalTrafficPolicy"] == "Local"
    assert service["spec"]["selector"].items() <= template["metadata"]["labels"].items()
    [port] = service["spec"]["ports"]
    container = brokerside_container(template["spec"])
    assert port["targetPort"] in {p["name"] for p in container["ports"]}
    config = yaml.safe_load(next(d for d in docs if d["kind"] == "ConfigMap")["data"]["brokerside.yaml"])
    assert config["listen"]["grpc"] == f"0.0.0.0:{port['port']}"
    assert config["listen"]["tls"]["client_ca_file"]
    # No gRPC probe: the kubelet's would speak plaintext to a TLS port.
    assert not any("grpc" in container[p] for p in ("startupProbe", "livenessProbe", "readinessProbe"))
