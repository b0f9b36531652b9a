#!/usr/bin/env bash
# Builds the brokerside image from the Dockerfile with podman and
# smoke-tests it: its size, the user it runs as, a read-only root file
# system, its HEALTHCHECK, a Send through it to the Redis of
# scripts/brokers.sh, and a SIGTERM that drains and exits 0.
#   scripts/image.sh            build (if the sources changed) and test
#   IMAGE=name:tag scripts/image.sh
# No registry is reachable here: when podman has no debian:bookworm image,
# one is made with debootstrap from Debian's packages (minbase) and
# imported. podman runs its containers with runc and explicit ulimits (crun
# and the default limits fail in this sandbox). Not part of scripts/test.sh:
# a build from nothing takes minutes (README, "Deploying on Kubernetes").
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
image=${IMAGE:-localhost/brokerside:dev}
cache="$root/.cache/image"
# (Within the limits this shell has: runc may not raise them.)
limits=(--runtime runc --ulimit "nofile=$(ulimit -Hn):$(ulimit -Hn)" --ulimit nproc=4096:4096)
step() { printf '== %s\n' "$*"; }
fail() { echo "image.sh: $*" >&2; exit 1; }

missing=()
for tool in podman runc debootstrap; do command -v "$tool" >/dev/null || missing+=("$tool"); done
if ((${#missing[@]})); then
  step "installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! podman image exists docker.io/library/debian:bookworm; then
  step "debian:bookworm from debootstrap (minbase)"
  mkdir -p "$cache"
  if [[ ! -s $cache/bookworm.tar ]]; then
    rm -rf "$cache/rootfs"
    debootstrap --variant=minbase bookworm "$cache/rootfs" http://deb.debian.org/debian >"$cache/debootstrap.log"
    tar -C "$cache/rootfs" -cf "$cache/bookworm.tar" .
    rm -rf "$cache/rootfs"
  fi
  podman import "$cache/bookworm.tar" docker.io/library/debian:bookworm >/dev/null
fi

step "build $image"
started=$(date +%s)
podman build --pull=never --format docker "${limits[@]}" -t "$image" "$root" >"$cache/build.log" 2>&1 ||
  { tail -40 "$cache/build.log" >&2; fail "build failed (log: $cache/build.log)"; }
echo "built in $(($(date +%s) - started)) s"

size=$(podman image inspect --format '{{.Size}}' "$image")
echo "size: $((size / 1000000)) MB"
((size <= 60 * 1000 * 1000)) || fail "the image is $size bytes, above 60 MB"
[[ $(podman image inspect --format '{{.Config.User}}' "$image") == 10001:10001 ]] || fail "not uid 10001"
[[ -n $(podman image inspect --format '{{.Config.Healthcheck}}' "$image") ]] || fail "no HEALTHCHECK"

step "smoke test"
export BROKERSIDE_RUN_DIR="$root/.run/image-brokers"
"$root/scripts/brokers.sh" start >/dev/null
name="brokerside-smoke-$$"
cleanup() {
  podman rm -f "$name" >/dev/null 2>&1 || true
  "$root/scripts/brokers.sh" stop >/dev/null 2>&1 || true
}
trap cleanup EXIT
redis_url=$(grep '^BROKERSIDE_REDIS_URL=' "$BROKERSIDE_RUN_DIR/brokers.env" | cut -d= -f2-)
# Host networking, bound to loopback: the container reaches the test Redis
# there and nothing outside the machine reaches it. On the image's own ports,
# which its HEALTHCHECK probes (127.0.0.1:7300).
port=7300 admin=7301
for p in $port $admin; do
  python3 -c "import socket,sys; socket.socket().bind(('127.0.0.1', $p))" 2>/dev/null ||
    fail "port $p on 127.0.0.1 is in use: the smoke test needs the image's own ports"
done
podman run -d --name "$name" --network host --read-only "${limits[@]}" "$image" \
  "--listen=127.0.0.1:$port" "--admin=127.0.0.1:$admin" --target "cache=$redis_url" \
  --server.shutdown_grace=5s >/dev/null 2>"$cache/run.log"
pid=$(podman inspect --format '{{.State.Pid}}' "$name")
uid=$(awk '/^Uid:/ {print $2}' "/proc/$pid/status")
[[ $uid == 10001 ]] || fail "the process runs as uid $uid"
for _ in $(seq 50); do
  podman healthcheck run "$name" >/dev/null 2>&1 && break
  sleep 0.2
done
podman healthcheck run "$name" >/dev/null 2>&1 || { podman logs "$name" >&2; fail "HEALTHCHECK fails"; }
"$root/.venv/bin/python" - "$port" <<'EOF' || fail "a Send through the container failed"
import sys, pathlib
sys.path.insert(0, str(pathlib.Path("tests/integration").resolve()))
import conftest  # generates the stubs
import grpc
from brokerside.v1 import brokerside_pb2 as pb, brokerside_pb2_grpc as pb_grpc
with grpc.insecure_channel(f"127.0.0.1:{sys.argv[1]}") as channel:
    stub = pb_grpc.BrokerStub(channel)
    cmd = lambda *a: pb.SendRequest(target="cache", command=pb.Command(args=list(a)))
    stub.Send(cmd(b"SET", b"image:smoke", b"through the container"), timeout=10)
    got = stub.Send(cmd(b"GET", b"image:smoke"), timeout=10).reply.bytes
    assert got == b"through the container", got
print("Send through the container: OK")
EOF
podman stop -t 20 "$name" >/dev/null 2>&1  # (podman also says it has no systemd for timers)
code=$(podman inspect --format '{{.State.ExitCode}}' "$name")
[[ $code == 0 ]] || fail "SIGTERM ended it with exit code $code"
podman logs "$name" 2>&1 | grep -q "draining for up to 5000 ms" || fail "no drain on SIGTERM in its log"
echo "uid 10001, read-only root, HEALTHCHECK passes, Send OK, SIGTERM drained and exit 0"
step "image OK: $image"
