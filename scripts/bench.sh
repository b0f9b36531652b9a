#!/usr/bin/env bash
# The benchmark suite (issue 7), one command; not part of the test command.
# Builds Release with BROKERSIDE_BENCH=ON in build-bench, starts its own
# redis and rabbitmq (scripts/brokers.sh, run dir .run/bench-brokers), the
# sidecar and the bare gRPC echo server, runs P0-P7 side by side, REPS times
# each, then tests/bench/report.py writes tests/bench/results/<date>.{md,json,png}
# (<date>-2, -3, ... when that day already has one)
# and prints the table. Everything it started is stopped by PID.
#
#   scripts/bench.sh                 (about 8 minutes)
#   BENCH_REPS=3 BENCH_DURATION=5 BENCH_JOBS=1 BENCH_PROFILE=1 scripts/bench.sh
#   BENCH_BASELINE=/path/to/other/brokerside BENCH_BASELINE_LABEL=ce031f8 scripts/bench.sh
#   BENCH_ONLY=p9 scripts/bench.sh  (only the NATS figures, P9; the others then read "n/a")
#   BENCH_ONLY=p8 scripts/bench.sh  (only the Kafka figures, P8)
#   BENCH_ONLY=p1-3 scripts/bench.sh  (P0-P3 and their baseline pairs only)
#   BENCH_ONLY=p7 scripts/bench.sh  (P7 only: 1,000 clients, 1,000 Recv streams)
#   BENCH_ONLY=p1-3+p7 scripts/bench.sh  (both: P7's ratio to P1 needs P1 in the run)
#   BENCH_ONLY=p10 scripts/bench.sh  (only the Redis Cluster figures, P10)
#
# BENCH_BASELINE: another build of brokerside (e.g. of an earlier commit)
# that runs P1-P3 too, right after this build's runs in each repetition, so
# a before/after comparison is paired run by run on one machine at one time.
#
# CPU placement on this 2-core machine: servers (brokerside, the echo
# server) on core 0, load generators (bench_load, redis-benchmark, ghz, the
# Python apps) on core 1, brokers unpinned. The same placement applies to a
# figure and its baseline.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
reps=${BENCH_REPS:-3}
duration=${BENCH_DURATION:-5}
warmup=${BENCH_WARMUP:-1}
jobs=${BENCH_JOBS:-1}
profile=${BENCH_PROFILE:-1}
baseline_bin=${BENCH_BASELINE:-}
baseline_label=${BENCH_BASELINE_LABEL:-baseline}
only=${BENCH_ONLY:-}
ghz_version=v0.120.0
build="$root/build-bench"
stamp="$(date -u +%Y-%m-%dT%H%M%SZ)"
raw="$root/.run/bench/$stamp"
export BROKERSIDE_RUN_DIR="$root/.run/bench-brokers"
mkdir -p "$raw"

log() { printf 'bench: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

# ---- build, Python packages, ghz ----
log "building Release with BROKERSIDE_BENCH=ON in build-bench (ninja -j$jobs)"
cmake -G Ninja -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DBROKERSIDE_BENCH=ON \
  -DBROKERSIDE_TESTS=OFF >"$raw/cmake.log" 2>&1 || die "cmake failed (see $raw/cmake.log)"
ninja -C "$build" -j"$jobs" brokerside bench_echo_server bench_load >"$raw/build.log" 2>&1 ||
  die "build failed (see $raw/build.log)"
sidecar_bin="$build/sidecar/brokerside"
echo_bin="$build/tests/bench/bench_echo_server"
load_bin="$build/tests/bench/bench_load"

python="$root/.venv/bin/python"
[[ -x $python ]] || die "no .venv: run scripts/deps.sh first"
req="$root/tests/bench/requirements.txt"
want="$(sha256sum "$req" | cut -d' ' -f1)"
if [[ "$(cat "$root/.venv/.bench-requirements.sha256" 2>/dev/null)" != "$want" ]]; then
  log "installing tests/bench/requirements.txt into .venv"
  "$root/.venv/bin/pip" install -q --disable-pip-version-check -r "$req" >"$raw/pip.log" 2>&1 ||
    die "pip failed (see $raw/pip.log)"
  echo "$want" >"$root/.venv/.bench-requirements.sha256"
fi

ghz="$root/.cache/gobin/ghz"
if [[ ! -x $ghz ]]; then
  log "installing ghz $ghz_version from the Go module proxy"
  GOBIN="$root/.cache/gobin" timeout 900 go install "github.com/bojand/ghz/cmd/ghz@$ghz_version" \
    >"$raw/ghz-install.log" 2>&1 || log "ghz could not be installed (see $raw/ghz-install.log)"
fi

# ---- processes we start, stopped by PID ----
pids=()
brokers_started=0
cleanup() {
  local pid
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
  ((brokers_started)) && "$root/scripts/brokers.sh" stop redis rabbitmq nats kafka redis-cluster || true
}
trap cleanup EXIT

free_port() {
  /usr/bin/python3 "$root/tests/support/free_port.py"
}

log "starting redis, rabbitmq, nats, kafka and a redis cluster (scripts/brokers.sh, $BROKERSIDE_RUN_DIR)"
brokers_started=1
"$root/scripts/brokers.sh" start redis rabbitmq nats kafka redis-cluster >"$raw/brokers.log" 2>&1 ||
  die "brokers did not start (see $raw/brokers.log)"
# shellcheck disable=SC1091
source "$BROKERSIDE_RUN_DIR/brokers.env"
redis_url=$BROKERSIDE_REDIS_URL
redis_port=$BROKERSIDE_REDIS_PORT
amqp_port=$BROKERSIDE_AMQP_PORT
amqp_url=$BROKERSIDE_AMQP_URL
nats_url=$BROKERSIDE_NATS_URL
kafka_url=$BROKERSIDE_KAFKA_URL
kafka_bootstrap=${kafka_url#kafka://}
cluster_seed=${BROKERSIDE_REDIS_CLUSTER_SEEDS%%,*}

# A mature Redis proxy beside brokerside: twemproxy (Debian's nutcracker),
# pooled and pipelined, one server connection, on the servers' core.
twem_port=""
if command -v nutcracker >/dev/null; then
  twem_port=$(free_port)
  cat >"$raw/nutcracker.yml" <<EOT
bench:
  listen: 127.0.0.1:$twem_port
  redis: true
  server_connections: 1
  servers:
    - 127.0.0.1:$redis_port:1
EOT
  taskset -c 0 nutcracker -c "$raw/nutcracker.yml" -s "$(free_port)" -a 127.0.0.1 \
    -o "$raw/nutcracker.log" &
  pids+=("$!")
else
  log "nutcracker not installed (scripts/deps.sh installs it): no proxy comparison"
fi

echo_port=$(free_port)
taskset -c 0 "$echo_bin" --listen "127.0.0.1:$echo_port" >"$raw/echo-server.log" 2>&1 &
echo_pid=$!
pids+=("$echo_pid")

# start_sidecar NAME [BIN [SETTING...]]: a brokerside on core 0 and free ports; sets
# sidecar_pid and sidecar_port. One I/O thread on its one core. (The pubsub
# target's Recv streams share its subscriber connections, P7.) cache lets
# P7's 10,000 calls wait in its queue (the default max_pending of 1,024
# answers the excess with RESOURCE_EXHAUSTED "pool exhausted", which is not
# a throughput figure).
start_sidecar() {
  local name=$1 bin=${2:-$sidecar_bin}
  shift $(($# < 2 ? $# : 2))
  sidecar_port=$(free_port)
  taskset -c 0 "$bin" --listen.grpc="127.0.0.1:$sidecar_port" --listen.admin= \
    --server.threads=1 --log.level=warn \
    --target cache="$redis_url" --target events="$amqp_url" --target pubsub="$redis_url" \
    --target nats="$nats_url" --target natsjs="$nats_url" --targets.natsjs.jetstream=true \
    --target kafka="$kafka_url" \
    --targets.pubsub.pool.max_connections=1100 --targets.pubsub.pool.max_pending=2000 \
    --targets.cache.pool.max_pending=16384 "$@" >>"$raw/sidecar-$name.log" 2>&1 &
  sidecar_pid=$!
  pids+=("$sidecar_pid")
  for _ in $(seq 100); do
    "$sidecar_bin" --probe --listen.grpc="127.0.0.1:$sidecar_port" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  die "brokerside did not become SERVING (see $raw/sidecar-$name.log)"
}
stop_sidecar() {
  local pid=$1 p kept=()
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  for p in "${pids[@]}"; do [[ $p == "$pid" ]] || kept+=("$p"); done
  pids=("${kept[@]}")
}

# The main sidecar serves every figure but the memory ones, which get a fresh
# process each (a heap that P7 grew is not given back to the system, so RSS
# read after it would say nothing about P2 or the Recv streams).
# (The cluster target only here: a baseline build may not know the scheme.)
start_sidecar main "$sidecar_bin" --target shop="redis+cluster://$cluster_seed"
main_pid=$sidecar_pid
grpc_port=$sidecar_port
if [[ -n $baseline_bin ]]; then
  [[ -x $baseline_bin ]] || die "BENCH_BASELINE: $baseline_bin is not an executable"
  start_sidecar baseline "$baseline_bin"
  base_pid=$sidecar_pid
  base_addr="127.0.0.1:$sidecar_port"
fi
sleep 1

client=(taskset -c 1)
load() { "${client[@]}" "$load_bin" --warmup "$warmup" --duration "$duration" "$@"; }
echo_addr="127.0.0.1:$echo_port"
side_addr="127.0.0.1:$grpc_port"

# The baseline build's run of the same figure, right after this build's.
baseline_load() {
  local out=$1
  shift
  [[ -n $baseline_bin ]] || return 0
  load "$@" --address "$base_addr" --server-pid "$base_pid" >"$out"
}

# redis-benchmark with a run length close to BENCH_DURATION at its usual rate.
redis_bench() {
  local clients=$1 tests=$2 n=$3 pipeline=${4:-1} port=${5:-$redis_port}
  "${client[@]}" timeout 120 redis-benchmark -p "$port" -c "$clients" -P "$pipeline" -d 64 \
    -t "$tests" -n "$n" --csv 2>/dev/null
}

cat >"$raw/meta.json" <<EOT
{"stamp": "$stamp", "reps": $reps, "duration_s": $duration, "warmup_s": $warmup,
 "host": "$(hostname)", "kernel": "$(uname -r)", "cpus": $(nproc),
 "cpu_model": "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//;s/"//g')",
 "loadavg_start": "$(cut -d' ' -f1-3 /proc/loadavg)",
 "redis": "$(redis-server --version | sed 's/"//g')",
 "grpc": "$(dpkg-query -W -f='${Version}' libgrpc++-dev 2>/dev/null || echo unknown)",
 "compiler": "$(c++ --version | head -n1 | sed 's/"//g')",
 "ghz": "$ghz_version",
 "only": "$only",
 "nats": "$(nats-server --version 2>/dev/null | sed 's/"//g')",
 "kafka": "Apache Kafka 4.4.0 (KRaft), librdkafka $(dpkg-query -W -f='${Version}' librdkafka1 2>/dev/null || echo unknown)",
 "baseline": "$([[ -n $baseline_bin ]] && echo "$baseline_label")",
 "commit": "$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . ':!tests/bench/results' || echo ' with uncommitted changes')"}
EOT

# P9: NATS. Core publishes confirmed by brokerside (PUB + PING, 64 in flight
# on one SendStream) against nats-py publishing into its buffer with one
# flush at the end (as `nats bench` does); JetStream publishes awaiting
# their PubAck, 64 at once both ways, into a memory stream.
p9() {
  local rep=$1
  "${client[@]}" "$load_bin" --mode stream-publish --address "$side_addr" --target nats \
    --destination bench.p9.core --in-flight 64 --warmup "$warmup" --count 100000 \
    --server-pid "$main_pid" >"$raw/p9-core-$rep.json"
  "${client[@]}" timeout 120 "$python" tests/bench/py_apps.py nats-publish --nats "$nats_url" \
    --subject bench.p9.core --count 100000 >"$raw/p9-core-natspy-$rep.json"
  "${client[@]}" timeout 120 "$python" tests/bench/py_apps.py nats-js-publish --nats "$nats_url" \
    --subject bench.p9.js --stream BENCHP9 --count 20000 --tasks 64 >"$raw/p9-js-natspy-$rep.json"
  "${client[@]}" timeout 120 "$python" tests/bench/py_apps.py nats-js-publish --nats "$nats_url" \
    --subject bench.p9.js --stream BENCHP9 --count 200 --tasks 1 >/dev/null  # re-creates, empties
  "${client[@]}" "$load_bin" --mode stream-publish --address "$side_addr" --target natsjs \
    --destination bench.p9.js --in-flight 64 --warmup "$warmup" --count 20000 \
    --server-pid "$main_pid" >"$raw/p9-js-$rep.json"
}

# P8: Kafka. Confirmed publishes (acks=all, idempotent, 64 in flight on one
# SendStream) against kcat producing the same records straight to the
# broker and against a kafka-python app; then Recv in a consumer group
# (acking every delivery) against kcat -C, reading the records kcat wrote.
# A fresh one-partition topic for each.
p8() {
  local rep=$1 t="bench.p8.$stamp.$rep" py=("${client[@]}" timeout 300 "$python" tests/bench/py_apps.py)
  "${py[@]}" kafka-topic --kafka "$kafka_bootstrap" --topic "$t.side" >/dev/null
  "${client[@]}" "$load_bin" --mode stream-publish --address "$side_addr" --target kafka \
    --destination "$t.side" --in-flight 64 --warmup "$warmup" --count 100000 \
    --server-pid "$main_pid" >"$raw/p8-pub-$rep.json"
  "${py[@]}" kafka-topic --kafka "$kafka_bootstrap" --topic "$t.kcat" >/dev/null
  "${py[@]}" kcat-produce --kafka "$kafka_bootstrap" --topic "$t.kcat" --count 200000 \
    >"$raw/p8-pub-kcat-$rep.json"
  "${py[@]}" kafka-topic --kafka "$kafka_bootstrap" --topic "$t.py" >/dev/null
  "${py[@]}" kafka-publish --kafka "$kafka_bootstrap" --topic "$t.py" --count 100000 \
    >"$raw/p8-pub-kpy-$rep.json"
  "${client[@]}" timeout 300 "$load_bin" --mode recv-consume --address "$side_addr" --target kafka \
    --destination "$t.kcat" --group "bench-p8-$stamp-$rep" --in-flight 1000 --count 200000 \
    >"$raw/p8-recv-$rep.json"
  "${py[@]}" kcat-consume --kafka "$kafka_bootstrap" --topic "$t.kcat" --count 200000 \
    >"$raw/p8-recv-kcat-$rep.json"
}

# P10: a Redis Cluster (3 masters + 3 replicas, scripts/brokers.sh): SETs on
# 100,000 keys in turn through one SendStream, 50 in flight, spread by the
# sidecar over the masters, against redis-benchmark --cluster with 50
# clients on the same key space (each its own connection to every master).
p10() {
  local rep=$1
  "${client[@]}" "$load_bin" --mode stream-set --address "$side_addr" --target shop \
    --keys 100000 --in-flight 50 --warmup "$warmup" --duration "$duration" \
    --server-pid "$main_pid" >"$raw/p10-$rep.json"
  "${client[@]}" timeout 120 redis-benchmark --cluster -h 127.0.0.1 -p "${cluster_seed##*:}" \
    -c 50 -P 1 -d 64 -r 100000 -t set -n 300000 --csv >"$raw/p10-redis-$rep.csv" 2>/dev/null
}

# P0 ceilings and the P1 / P3 / P2 pairs (this build, then the baseline's,
# back to back).
p1to3() {
  local rep=$1
  load --mode echo-unary --address "$echo_addr" --in-flight 32 --server-pid "$echo_pid" \
    >"$raw/p0-echo-u32-$rep.json"
  load --mode send-get --address "$side_addr" --in-flight 32 --server-pid "$main_pid" \
    >"$raw/p1-$rep.json"
  baseline_load "$raw/p1-base-$rep.json" --mode send-get --in-flight 32
  load --mode echo-unary --address "$echo_addr" --in-flight 1 --server-pid "$echo_pid" \
    >"$raw/p0-echo-u1-$rep.json"
  redis_bench 1 get,set 100000 >"$raw/p0-redis-c1-$rep.csv"
  load --mode send-get --address "$side_addr" --in-flight 1 --server-pid "$main_pid" \
    >"$raw/p3-$rep.json"
  baseline_load "$raw/p3-base-$rep.json" --mode send-get --in-flight 1
  # P2: one stream, 50 in flight, against 50 redis-benchmark clients; peak
  # RSS over P2 alone (clear_refs 5 resets VmHWM).
  load --mode echo-stream --address "$echo_addr" --in-flight 50 --server-pid "$echo_pid" \
    >"$raw/p0-echo-s50-$rep.json"
  redis_bench 50 get,set 300000 >"$raw/p0-redis-c50-$rep.csv"
  load --mode stream-set --address "$side_addr" --in-flight 50 --server-pid "$main_pid" \
    >"$raw/p2-$rep.json"
  baseline_load "$raw/p2-base-$rep.json" --mode stream-set --in-flight 50
}

# P7: 1,000 clients x 10 in flight; 1,000 open Recv streams (10 channels),
# their RSS and the broker connections they hold (counted by CLIENT LIST
# while they are open: connections in subscriber mode); the same for 1,000
# AMQP consumers.
p7() {
  local rep=$1
  load --mode echo-unary --address "$echo_addr" --clients 1000 --in-flight 10 --server-pid "$echo_pid" \
    >"$raw/p0-echo-u1000x10-$rep.json"
  load --mode send-get --address "$side_addr" --clients 1000 --in-flight 10 --server-pid "$main_pid" \
    >"$raw/p7-clients-$rep.json"
  awk '/^VmRSS/{print "{\"VmRSS\": " $2 "}"}' "/proc/$main_pid/status" >"$raw/p7-rss-after-$rep.json"
  # What the allocator gives back once the load is over (jemalloc's decay).
  sleep 30
  awk '/^VmRSS/{print "{\"VmRSS\": " $2 "}"}' "/proc/$main_pid/status" >"$raw/p7-rss-later-$rep.json"
  start_sidecar "recv-$rep"
  sleep 1
  local before
  before=$(redis-cli -p "$redis_port" CLIENT LIST | grep -c ' flags=P ' || true)
  "${client[@]}" timeout 180 "$load_bin" --mode recv-hold --address "127.0.0.1:$sidecar_port" \
    --target pubsub --clients 10 --streams 100 --rss-pid "$sidecar_pid" --hold 4 \
    >"$raw/p7-recv-$rep.json" &
  local hold=$!
  sleep 3
  local during
  during=$(redis-cli -p "$redis_port" CLIENT LIST | grep -c ' flags=P ' || true)
  wait "$hold"
  printf '{"subscriber_connections": %d}\n' "$((during - before))" >"$raw/p7-recv-conns-$rep.json"
  stop_sidecar "$sidecar_pid"
  sleep 1
  # The same for 1,000 AMQP consumers, one queue each (declared first by
  # pika); their connections counted by the kernel (ss) while they are open:
  # the sidecar's sockets to RabbitMQ, the pool's one included.
  amqp_queues declare
  start_sidecar "amqp-recv-$rep"
  sleep 1
  "${client[@]}" timeout 180 "$load_bin" --mode recv-hold --address "127.0.0.1:$sidecar_port" \
    --target events --clients 10 --streams 100 --rss-pid "$sidecar_pid" --hold 4 \
    >"$raw/p7-amqp-recv-$rep.json" &
  hold=$!
  sleep 3
  during=$(ss -tnpH state established "( dport = :$amqp_port )" | grep -c "pid=$sidecar_pid," || true)
  wait "$hold"
  printf '{"connections": %d}\n' "$during" >"$raw/p7-amqp-conns-$rep.json"
  stop_sidecar "$sidecar_pid"
  amqp_queues delete
  sleep 1
  # 1,000 leases taken one by one from connections the pool opened before
  # (min_idle): what a lease costs beyond its connection.
  start_sidecar "leases-$rep" "$sidecar_bin" --targets.cache.pool.min_idle=1000 \
    --targets.cache.pool.max_connections=1000
  local opened=0
  for _ in $(seq 100); do
    opened=$(ss -tnpH state established "( dport = :$redis_port )" | grep -c "pid=$sidecar_pid," || true)
    ((opened >= 1000)) && break
    sleep 0.2
  done
  "${client[@]}" timeout 120 "$load_bin" --mode lease-hold --address "127.0.0.1:$sidecar_port" \
    --target cache --clients 1 --streams 1000 --rss-pid "$sidecar_pid" --hold 2 \
    >"$raw/p7-leases-$rep.json"
  stop_sidecar "$sidecar_pid"
  sleep 1
}

# amqp_queues declare|delete: P7's 1,000 queues (bench:ps:0 ...) at RabbitMQ.
amqp_queues() {
  "$python" - "$1" "$amqp_url" <<'EOT'
import sys
import pika
connection = pika.BlockingConnection(pika.URLParameters(sys.argv[2]))
channel = connection.channel()
for i in range(1000):
    if sys.argv[1] == "declare":
        channel.queue_declare(f"bench:ps:{i}")
    else:
        channel.queue_delete(f"bench:ps:{i}")
connection.close()
EOT
}

for rep in $(seq "$reps"); do
  log "repetition $rep/$reps"
  if [[ $only == p9 ]]; then
    p9 "$rep"
    continue
  fi
  if [[ $only == p8 ]]; then
    p8 "$rep"
    continue
  fi
  if [[ $only == p7 ]]; then
    p7 "$rep"
    continue
  fi
  if [[ $only == p10 ]]; then
    p10 "$rep"
    continue
  fi
  p1to3 "$rep"
  [[ $only == p1-3 ]] && continue
  if [[ $only == p1-3+p7 ]]; then
    p7 "$rep"
    continue
  fi
  # P2b: batches of 16 on one stream (800 in flight) against 50 clients
  # pipelining 16 each.
  redis_bench 50 set 2000000 16 >"$raw/p0-redis-c50p16-$rep.csv"
  load --mode stream-set --address "$side_addr" --in-flight 800 --batch 16 \
    --server-pid "$main_pid" >"$raw/p2b-$rep.json"
  # The proxy, same -c, -P and payload as the direct runs beside it.
  if [[ -n $twem_port ]]; then
    redis_bench 1 get,set 100000 1 "$twem_port" >"$raw/p0-twem-c1-$rep.csv"
    redis_bench 50 set 300000 1 "$twem_port" >"$raw/p0-twem-c50-$rep.csv"
    redis_bench 50 set 2000000 16 "$twem_port" >"$raw/p0-twem-c50p16-$rep.csv"
  fi
  # P6 peak: P2 again on a fresh sidecar; VmHWM is its peak RSS since exec.
  start_sidecar "p2-peak-$rep"
  load --mode stream-set --address "127.0.0.1:$sidecar_port" --in-flight 50 \
    >"$raw/p2-fresh-$rep.json"
  awk '/^VmHWM|^VmRSS/{sub(":", "", $1); printf "%s\"%s\": %s", (n++ ? ", " : "{"), $1, $2}
       END{print "}"}' "/proc/$sidecar_pid/status" >"$raw/p6-peak-$rep.json"
  stop_sidecar "$sidecar_pid"
  # P4: confirmed AMQP publishes, same 64-byte body, same queue.
  "${client[@]}" "$load_bin" --mode stream-publish --address "$side_addr" --target events \
    --in-flight 64 --warmup "$warmup" --count 50000 >"$raw/p4-$rep.json"
  "${client[@]}" timeout 120 "$python" tests/bench/py_apps.py pika-publish --amqp "$amqp_url" \
    --count 5000 --max-seconds 30 >"$raw/p4-pika-$rep.json"
  # P5: an asyncio app, 64 tasks doing SETs, through one batched SendStream
  # and through redis.asyncio's pool.
  "${client[@]}" timeout 120 "$python" tests/bench/py_apps.py grpc-tasks --address "$side_addr" \
    --duration "$duration" --warmup "$warmup" --tasks 64 >"$raw/p5-tasks-grpc-$rep.json"
  "${client[@]}" timeout 120 "$python" tests/bench/py_apps.py redis-tasks \
    --redis-port "$redis_port" --duration "$duration" --warmup "$warmup" --tasks 64 \
    >"$raw/p5-tasks-redis-$rep.json"
  # (extra) a Python app, one SET at a time; and the same with 64 outstanding.
  "${client[@]}" timeout 120 "$python" tests/bench/py_apps.py grpc-set --address "$side_addr" \
    --duration "$duration" --warmup "$warmup" >"$raw/p5-grpc-$rep.json"
  "${client[@]}" timeout 120 "$python" tests/bench/py_apps.py redis-set --redis-port "$redis_port" \
    --duration "$duration" --warmup "$warmup" >"$raw/p5-redis-$rep.json"
  "${client[@]}" timeout 120 "$python" tests/bench/py_apps.py grpc-set --address "$side_addr" \
    --duration "$duration" --warmup "$warmup" --window 64 >"$raw/p5-grpc-w64-$rep.json"
  # P6: exec to SERVING and idle RSS with 3 targets (a fresh process).
  start_port=$(free_port)
  timeout 60 "$load_bin" --mode startup --address "127.0.0.1:$start_port" --hold 2 -- \
    "$sidecar_bin" --listen.grpc="127.0.0.1:$start_port" --listen.admin= --log.level=warn \
    --target cache="$redis_url" --target events="$amqp_url" --target sessions="$redis_url/1" \
    >"$raw/p6-$rep.json" 2>>"$raw/startup.log"
  p7 "$rep"
  # Last: a Kafka broker that has just taken a million records (kcat) stays
  # busy for seconds (flushes, GC) on the cores the next figures need. Run
  # first (2026-12-02), P1 read 0.77x of its baseline, which ran after it;
  # with P1-P3 alone the same two builds read 0.96x (2026-12-02-p1-3).
  p10 "$rep"
  p8 "$rep"
  p9 "$rep"
done

# ---- ghz cross-check, once: bare echo and P1 (Send GET), at 32 and at 1 in
# flight, one connection, each followed by bench_load with the same settings ----
if [[ -x $ghz && ( -z $only || $only == p1-3* ) ]]; then
  log "ghz cross-check"
  payload=$(printf 'x%.0s' $(seq 64) | base64 -w0)
  get_args="[\"$(printf GET | base64)\",\"$(printf bench:key | base64)\"]"
  for c in 32 1; do
    "${client[@]}" timeout 120 "$ghz" --insecure --proto tests/bench/echo.proto \
      --call brokerside.bench.Echo/Echo -d "{\"payload\":\"$payload\"}" -c "$c" --connections 1 \
      -z "${duration}s" --skipFirst 1000 -O json "$echo_addr" >"$raw/ghz-echo-c$c.json" \
      2>"$raw/ghz-echo-c$c.log" || true
    load --mode echo-unary --address "$echo_addr" --in-flight "$c" --label "beside ghz" \
      >"$raw/ghz-pair-echo-c$c.json"
    "${client[@]}" timeout 120 "$ghz" --insecure --import-paths proto \
      --proto proto/brokerside/v1/brokerside.proto --call brokerside.v1.Broker/Send \
      -d "{\"target\":\"cache\",\"command\":{\"args\":$get_args}}" -c "$c" --connections 1 \
      -z "${duration}s" --skipFirst 1000 -O json "$side_addr" >"$raw/ghz-p1-c$c.json" \
      2>"$raw/ghz-p1-c$c.log" || true
    load --mode send-get --address "$side_addr" --in-flight "$c" --label "beside ghz" \
      >"$raw/ghz-pair-p1-c$c.json"
  done
  "$ghz" --version >"$raw/ghz-version.txt" 2>&1 || true
fi

# ---- profile of the sidecar under P1 and P3 (perf, flat, user and kernel) ----
if ((profile)) && [[ -z $only || $only == p1-3* ]] && command -v perf >/dev/null; then
  log "profiling the sidecar under P1 and P3 (perf record)"
  for p in p1:32 p3:1; do
    name=${p%%:*}
    in_flight=${p##*:}
    load --mode send-get --address "$side_addr" --in-flight "$in_flight" --duration 8 >/dev/null &
    load_pid=$!
    sleep "$warmup"
    timeout 30 perf record -F 1999 -g -o "$raw/perf-$name.data" -p "$main_pid" -- sleep 5 \
      >"$raw/perf-$name.log" 2>&1 || log "perf record failed (see $raw/perf-$name.log)"
    wait "$load_pid" || true
    # Flat (self) time by DSO, then by symbol; perf pads its columns.
    { perf report -i "$raw/perf-$name.data" --stdio --no-children --sort dso -g none 2>/dev/null |
        grep -v '^#' | grep -v '^$' | head -n 8
      echo
      perf report -i "$raw/perf-$name.data" --stdio --no-children --sort dso,symbol \
        --percent-limit 1 -g none 2>/dev/null | grep -v '^#' | grep -v '^$' | head -n 25
    } | sed -E 's/[[:space:]]+-[[:space:]]+-[[:space:]]*$//; s/[[:space:]]+$//' >"$raw/profile-$name.txt" || true
  done
fi

# Idle CPU of the main sidecar (five targets, nothing calling) over 10 s.
if [[ -z $only ]]; then
  ticks() { awk '{print $14 + $15}' "/proc/$main_pid/stat"; }
  idle_start=$(ticks)
  sleep 10
  echo "{\"cpu_percent\": $(awk -v a="$idle_start" -v b="$(ticks)" -v hz="$(getconf CLK_TCK)" \
    'BEGIN{printf "%.3f", (b - a) / hz / 10 * 100}')}" >"$raw/p6-idle-cpu.json"
fi

echo "{\"loadavg_end\": \"$(cut -d' ' -f1-3 /proc/loadavg)\"}" >"$raw/meta-end.json"
log "writing the report"
"$python" tests/bench/report.py "$raw" "$root/tests/bench/results"
