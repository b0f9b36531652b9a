#!/usr/bin/env bash
# Instructions the sidecar process executes per operation (callgrind's Ir),
# a figure the machine's noise does not move: for a 2 % question where
# throughput and CPU time wander by 20 % between runs (this VM has no
# hardware counters for `perf stat -e instructions`). Not part of the test
# command.
#
#   tests/bench/callgrind_per_op.sh BINARY MODE IN_FLIGHT COUNT
#   e.g. tests/bench/callgrind_per_op.sh build-bench/sidecar/brokerside stream-set 50 3000
#
# Runs BINARY under valgrind with instrumentation off, one Redis target
# (the brokers of scripts/brokers.sh, BROKERSIDE_RUN_DIR), 300 operations of
# bench_load's MODE to warm up, then instrumentation on for COUNT operations
# and a dump: prints the dump's instruction total divided by COUNT.
set -euo pipefail
bin=$1 mode=$2 in_flight=$3 count=$4
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
load="$root/build-bench/tests/bench/bench_load"
probe="$root/build/sidecar/brokerside"
redis_url=$(grep '^BROKERSIDE_REDIS_URL=' "${BROKERSIDE_RUN_DIR:-$root/.run/brokers}/brokers.env" | cut -d= -f2)
port=$(/usr/bin/python3 "$root/tests/support/free_port.py")
out=$(mktemp -d)
valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$out/cg.%p" "$bin" \
  --listen.grpc="127.0.0.1:$port" --listen.admin= --server.threads=1 --log.level=warn \
  --target cache="$redis_url" >/dev/null 2>"$out/valgrind.log" &
pid=$!
for _ in $(seq 300); do "$probe" --probe="127.0.0.1:$port" >/dev/null 2>&1 && break; sleep 0.2; done
"$load" --mode "$mode" --address "127.0.0.1:$port" --in-flight "$in_flight" --warmup 0 --count 300 >/dev/null
callgrind_control -i on "$pid" >/dev/null 2>&1
"$load" --mode "$mode" --address "127.0.0.1:$port" --in-flight "$in_flight" --warmup 0 --count "$count" >/dev/null
callgrind_control -d "$pid" >/dev/null 2>&1
sleep 1
kill "$pid"
wait "$pid" 2>/dev/null || true
total=$(awk '/^summary:|^totals:/ {s += $2} END {print s}' "$out/cg.$pid.1")
echo "$(basename "$bin") $mode in_flight=$in_flight: $((total / count)) instructions per operation"
rm -rf "$out"
