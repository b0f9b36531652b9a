#!/usr/bin/env bash
# The main job on a fresh Debian bookworm machine: installs, builds, starts a
# local Redis and brokerside with its built-in default configuration plus one
# target, makes a short demo call and prints the result, then stops both.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

scripts/deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
ninja -C build brokerside >/dev/null

export BROKERSIDE_RUN_DIR="$root/.run/demo-brokers"
sidecar_pid=
cleanup() {
  [[ -n $sidecar_pid ]] && kill -TERM "$sidecar_pid" 2>/dev/null && wait "$sidecar_pid" || true
  scripts/brokers.sh stop redis
}
trap cleanup EXIT
scripts/brokers.sh start redis
# shellcheck disable=SC1091
source "$BROKERSIDE_RUN_DIR/brokers.env"

build/sidecar/brokerside --target "cache=$BROKERSIDE_REDIS_URL" &
sidecar_pid=$!
for _ in $(seq 100); do
  build/sidecar/brokerside --probe >/dev/null 2>&1 && break
  kill -0 "$sidecar_pid" 2>/dev/null || { echo "demo: brokerside exited" >&2; exit 1; }
  sleep 0.1
done
.venv/bin/python scripts/demo.py 127.0.0.1:7300
