"""Apps in Node.js (@grpc/grpc-js, proto loaded at run time), Go
(google.golang.org/grpc, generated stubs) and Java (grpc-java, stubs from
Debian's protoc and protoc-gen-grpc-java) call brokerside: the API works from
the languages its users write in, not only from Python and C++. Each does
Send, SendStream and Recv against the real Redis from scripts/brokers.sh,
and redis-py reads what they wrote; the Java app also runs a lease with
MULTI/EXEC, a binary-safe round trip, an acked delivery and a malformed
Send."""

import json
import os
import subprocess
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parents[3]
CLIENTS = ROOT / "tests" / "clients"
# A second target only for Stats: its password must come back redacted.
SECRET = "secret=redis://app:hunter2@127.0.0.1:1"


def start(sidecar, brokers):
    url = brokers["BROKERSIDE_REDIS_URL"]
    return sidecar("--target", f"cache={url}", "--target", SECRET), url


def check(reply, url, prefix, language):
    assert reply["health"] == "SERVING"
    assert reply["targets"] == [
        {"name": "cache", "adapter": "redis", "urls": [url]},
        {"name": "secret", "adapter": "redis", "urls": ["redis://app:***@127.0.0.1:1"]},
    ]
    assert reply["send_code"] == 5  # NOT_FOUND
    assert reply["send_details"] == "unknown target 'nope' (configured: cache, secret)"
    assert reply["get"] == f"set by {language}"
    assert reply["stream_count"] == 100 and reply["stream_max"] == 100
    assert reply["delivery"] == {"source": f"{prefix}:news", "body": f"hello from {language}"}
    native = redis.Redis.from_url(url)
    assert native.get(f"{prefix}:k") == f"set by {language}".encode()
    assert native.get(f"{prefix}:n") == b"100"
    native.delete(f"{prefix}:k", f"{prefix}:n")


def test_node_client(sidecar, brokers):
    s, url = start(sidecar, brokers)
    prefix = f"node:{os.getpid()}"
    out = subprocess.run(["node", str(CLIENTS / "node" / "smoke.js"), s.address, str(ROOT / "proto"), prefix],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    check(json.loads(out.stdout), url, prefix, "node")


def test_go_client(sidecar, brokers, tmp_path):
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
    s, url = start(sidecar, brokers)
    prefix = f"go:{os.getpid()}"
    out = subprocess.run([str(binary), s.address, prefix], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    check(json.loads(out.stdout), url, prefix, "go")


def test_java_client(sidecar, brokers, tmp_path):
    java_dir = CLIENTS / "java"
    classpath = (ROOT / ".cache" / "java" / "classpath.txt").read_text().strip()
    generated, classes = tmp_path / "generated", tmp_path / "classes"
    generated.mkdir()
    # Only brokerside/**: grpc-services has the health stubs already.
    subprocess.run(["protoc", f"-I{ROOT / 'proto'}", f"--java_out={generated}",
                    "--plugin=protoc-gen-grpc-java=/usr/bin/grpc_java_plugin", f"--grpc-java_out={generated}",
                    "brokerside/v1/brokerside.proto"], check=True, timeout=60)
    sources = [str(p) for p in generated.rglob("*.java")] + [str(p) for p in (java_dir / "src").rglob("*.java")]
    subprocess.run(["javac", "--release", "17", "-nowarn", "-d", str(classes), "-cp", classpath, *sources],
                   check=True, capture_output=True, timeout=300)
    s, url = start(sidecar, brokers)
    prefix = f"java:{os.getpid()}"
    out = subprocess.run(["java", "-cp", f"{classes}:{classpath}", "dev.brokerside.smoke.Smoke", s.address, prefix],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    reply = json.loads(out.stdout)
    assert reply["delivery"].pop("stream_ended") is True  # the half-close ended the stream
    check(reply, url, prefix, "java")
    assert reply["binary_intact"] is True
    assert reply["lease_exec"] == ["OK", "in a transaction"]
    assert reply["bad_code"] == 3  # INVALID_ARGUMENT
    assert "args" in reply["bad_details"], reply["bad_details"]
