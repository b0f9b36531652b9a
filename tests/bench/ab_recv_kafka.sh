#!/usr/bin/env bash
# Two builds of brokerside side by side on Recv: each, in turn, consumes the
# same 200,000 records (64 B, made by kcat) in a consumer group of its own
# (bench_load recv-consume, credit 1,000, every delivery acked), PAIRS times;
# the sidecar on core 0 with one I/O thread and the load on core 1, as
# scripts/bench.sh places them. Needs build-bench (scripts/bench.sh builds it).
#
#   tests/bench/ab_recv_kafka.sh BIN_A BIN_B [PAIRS]
#
# Prints one line per run: which, deliveries/s, server CPU µs per delivery
# (from /proc, clock ticks: ~1 % resolution). Starts its own Kafka (scripts/brokers.sh,
# run dir .run/ab-brokers) and stops everything it started, by PID.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
bin_a=$1 bin_b=$2 pairs=${3:-3}
export BROKERSIDE_RUN_DIR=$root/.run/ab-brokers
load_bin=$root/build-bench/tests/bench/bench_load
python=$root/.venv/bin/python
[[ -x $load_bin ]] || { echo "no $load_bin: run scripts/bench.sh once" >&2; exit 1; }
"$root/scripts/brokers.sh" start kafka >/dev/null
# shellcheck disable=SC1091
source "$BROKERSIDE_RUN_DIR/brokers.env"
pids=()
cleanup() {
  ((${#pids[@]})) && kill "${pids[@]}" 2>/dev/null || true
  "$root/scripts/brokers.sh" stop kafka >/dev/null
}
trap cleanup EXIT
bootstrap=${BROKERSIDE_KAFKA_URL#kafka://}
topic=ab.recv.$(date +%s)
"$python" "$root/tests/bench/py_apps.py" kafka-topic --kafka "$bootstrap" --topic "$topic" >/dev/null
"$python" "$root/tests/bench/py_apps.py" kcat-produce --kafka "$bootstrap" --topic "$topic" \
  --count 200000 >/dev/null
# utime + stime of every thread of PID, in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
start() {
  taskset -c 0 "$1" --listen.grpc="127.0.0.1:$2" --listen.admin= --server.threads=1 \
    --log.level=warn --target kafka="$BROKERSIDE_KAFKA_URL" >/dev/null 2>&1 &
  pids+=("$!")
}
port_a=$(/usr/bin/python3 "$root/tests/support/free_port.py")
port_b=$(/usr/bin/python3 "$root/tests/support/free_port.py")
start "$bin_a" "$port_a"
pid_a=${pids[-1]}
start "$bin_b" "$port_b"
pid_b=${pids[-1]}
sleep 1
for pair in $(seq "$pairs"); do
  for which in A B; do
    if [[ $which == A ]]; then port=$port_a pid=$pid_a; else port=$port_b pid=$pid_b; fi
    cpu_before=$(cpu_ticks "$pid")
    timeout 300 taskset -c 1 "$load_bin" --mode recv-consume --address "127.0.0.1:$port" \
      --target kafka --destination "$topic" --group "ab-$which-$pair-$topic" --in-flight 1000 \
      --count 200000 >"$BROKERSIDE_RUN_DIR/ab-recv.json"
    cpu_after=$(cpu_ticks "$pid")
    /usr/bin/python3 -c "
import json, os
d = json.load(open('$BROKERSIDE_RUN_DIR/ab-recv.json'))
us = ($cpu_after - $cpu_before) * 1e6 / os.sysconf('SC_CLK_TCK') / 200000
print('$which', round(d['throughput']), round(us, 2))"
  done
done
