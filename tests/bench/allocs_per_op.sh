#!/usr/bin/env bash
# Allocation calls per broker operation of a brokerside build under one of
# bench_load's loads, exact: heaptrack counts every allocation call of the
# process (start included: a few thousand, against millions under load),
# divided by the Redis commands the load caused (INFO commandstats before
# and after). heaptrack cannot see jemalloc's own operator new, so give it
# a build linked without jemalloc:
#
#   cd build-bench && eval "$(ninja -t commands sidecar/brokerside | tail -1 |
#     sed 's|[^ ]*libjemalloc.so||; s|-o sidecar/brokerside|-o /tmp/bs-nojm|; s|^: && ||; s| && :$||')"
#   tests/bench/allocs_per_op.sh /tmp/bs-nojm --mode stream-set --in-flight 800 --batch 16
#
# Places the sidecar on core 0 with one I/O thread and the load on core 1,
# as scripts/bench.sh does; starts its own redis (scripts/brokers.sh, run dir
# .run/allocs-brokers) and stops everything it started, by PID.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
bin=$1
shift
load_bin=$root/build-bench/tests/bench/bench_load
[[ -x $load_bin ]] || { echo "no $load_bin: run scripts/bench.sh once" >&2; exit 1; }
command -v heaptrack >/dev/null || { echo "heaptrack is not installed (apt-get install heaptrack)" >&2; exit 1; }
export BROKERSIDE_RUN_DIR=$root/.run/allocs-brokers
"$root/scripts/brokers.sh" start redis >/dev/null
# shellcheck disable=SC1091
source "$BROKERSIDE_RUN_DIR/brokers.env"
out=$(mktemp -d)
side_pid=
cleanup() {
  [[ -n $side_pid ]] && kill "$side_pid" 2>/dev/null || true
  "$root/scripts/brokers.sh" stop redis >/dev/null
  rm -rf "$out"
}
trap cleanup EXIT
port=$(/usr/bin/python3 "$root/tests/support/free_port.py")
taskset -c 0 heaptrack -o "$out/trace" "$bin" --listen.grpc="127.0.0.1:$port" --listen.admin= \
  --server.threads=1 --log.level=warn --target cache="$BROKERSIDE_REDIS_URL" >"$out/heaptrack.log" 2>&1 &
heaptrack_pid=$!
for _ in $(seq 100); do  # heaptrack's start is slow
  side_pid=$(pgrep -f "^$bin --listen.grpc=127.0.0.1:$port" || true)
  [[ -n $side_pid ]] && ss -ltn | grep -q ":$port " && break
  sleep 0.1
done
[[ -n $side_pid ]] || { echo "the sidecar did not start under heaptrack" >&2; exit 1; }
commands() {
  redis-cli -p "$BROKERSIDE_REDIS_PORT" info commandstats |
    { grep -oE 'cmdstat_[a-z]+:calls=[0-9]+' || true; } | awk -F= '{s+=$2} END {print s+0}'
}
before=$(commands)
taskset -c 1 "$load_bin" "$@" --address "127.0.0.1:$port" --warmup 1 --duration 4 >/dev/null
after=$(commands)
kill -TERM "$side_pid"
wait "$heaptrack_pid" || true
side_pid=
calls=$(heaptrack_print "$out"/trace*.zst 2>/dev/null | grep -oE 'calls to allocation functions: [0-9]+' |
  grep -oE '[0-9]+$')
/usr/bin/python3 -c "print(f'{$calls} allocation calls / {$after - $before} broker commands = {$calls / ($after - $before):.1f} per operation')"
