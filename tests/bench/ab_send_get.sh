#!/usr/bin/env bash
# Two builds of brokerside side by side, alternately under the same load
# (bench_load send-get, 32 in flight, 4 s after 1 s of warm-up, PAIRS
# times), each on core 0 with one I/O thread and the load on core 1, as
# scripts/bench.sh places them: a quick paired A/B when the full suite's
# pairing is in doubt. Needs build-bench (scripts/bench.sh builds it).
#
#   tests/bench/ab_send_get.sh BIN_A BIN_B [PAIRS [LOAD ARGS...]]
#
# LOAD ARGS replace the send-get load, e.g. P2b's shape:
#   tests/bench/ab_send_get.sh A B 6 --mode stream-set --in-flight 800 --batch 16
#
# Prints one line per run: which, calls/s, server CPU µs per call, context
# switches per call. Starts its own redis (scripts/brokers.sh, run dir
# .run/ab-brokers) and stops everything it started, by PID.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
bin_a=$1 bin_b=$2 pairs=${3:-6}
shift $(($# < 3 ? $# : 3))
load_args=("$@")
((${#load_args[@]})) || load_args=(--mode send-get --in-flight 32)
export BROKERSIDE_RUN_DIR=$root/.run/ab-brokers
load_bin=$root/build-bench/tests/bench/bench_load
[[ -x $load_bin ]] || { echo "no $load_bin: run scripts/bench.sh once" >&2; exit 1; }
"$root/scripts/brokers.sh" start redis >/dev/null
# shellcheck disable=SC1091
source "$BROKERSIDE_RUN_DIR/brokers.env"
free_port() {
  /usr/bin/python3 "$root/tests/support/free_port.py"
}
pids=()
cleanup() {
  ((${#pids[@]})) && kill "${pids[@]}" 2>/dev/null || true
  "$root/scripts/brokers.sh" stop redis >/dev/null
}
trap cleanup EXIT
start() {
  taskset -c 0 "$1" --listen.grpc="127.0.0.1:$2" --listen.admin= --server.threads=1 \
    --log.level=warn --target cache="$BROKERSIDE_REDIS_URL" >/dev/null 2>&1 &
  pids+=("$!")
}
port_a=$(free_port) port_b=$(free_port)
start "$bin_a" "$port_a"
pid_a=${pids[-1]}
start "$bin_b" "$port_b"
pid_b=${pids[-1]}
sleep 1
for _ in $(seq "$pairs"); do
  for which in A B; do
    if [[ $which == A ]]; then port=$port_a pid=$pid_a; else port=$port_b pid=$pid_b; fi
    taskset -c 1 "$load_bin" "${load_args[@]}" --address "127.0.0.1:$port" \
      --warmup 1 --duration 4 --server-pid "$pid" |
      /usr/bin/python3 -c "
import json, sys
d = json.loads(sys.stdin.read().splitlines()[-1])
print('$which', round(d['throughput']), round(d['server']['cpu_us_per_call'], 1),
      round(d['server']['context_switches_per_call'], 2))"
  done
done
