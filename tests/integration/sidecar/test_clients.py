"""Apps in Node.js (@grpc/grpc-js, proto loaded at run time) and Go
(google.golang.org/grpc, generated stubs) call brokerside: the API works from
the languages its users write in, not only from Python and C++."""

import json
import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
CLIENTS = ROOT / "tests" / "clients"
TARGET = "cache=redis://app:hunter2@127.0.0.1:6379"


def check(reply):
    assert reply["health"] == "SERVING"
    assert reply["targets"] == [{"name": "cache", "adapter": "redis", "urls": ["redis://app:***@127.0.0.1:6379"]}]
    assert reply["send_code"] == 5  # NOT_FOUND
    assert reply["send_details"] == "unknown target 'nope' (configured: cache)"


def test_node_client(sidecar):
    s = sidecar("--target", TARGET)
    out = subprocess.run(["node", str(CLIENTS / "node" / "smoke.js"), s.address, str(ROOT / "proto")],
                         capture_output=True, text=True, timeout=60, check=True)
    check(json.loads(out.stdout))


def test_go_client(sidecar, tmp_path):
    go_dir = CLIENTS / "go"
    gobin = ROOT / ".cache" / "gobin"
    env = dict(os.environ, PATH=f"{gobin}:{os.environ['PATH']}", GOFLAGS="-mod=readonly")
    (go_dir / "gen").mkdir(exist_ok=True)
    module = "github.com/brokerside/brokerside/gen/go"
    subprocess.run(["protoc", f"-I{ROOT / 'proto'}", f"--go_out={go_dir / 'gen'}", f"--go_opt=module={module}",
                    f"--go-grpc_out={go_dir / 'gen'}", f"--go-grpc_opt=module={module}",
                    "brokerside/v1/brokerside.proto"], check=True, env=env, timeout=60)
    binary = tmp_path / "smoke"
    subprocess.run(["go", "build", "-o", str(binary), "./smoke"], cwd=go_dir, check=True, env=env, timeout=300)
    s = sidecar("--target", TARGET)
    out = subprocess.run([str(binary), s.address], capture_output=True, text=True, timeout=60, check=True)
    check(json.loads(out.stdout))
