#!/usr/bin/env bash
# Starts, reports and stops REAL brokers from Debian's packages for the tests:
# redis-server, rabbitmq-server (with its own epmd), nats-server and Apache
# Kafka (KRaft, from the jars scripts/deps.sh resolves), and a Redis Cluster
# (six redis-servers: 3 masters, 3 replicas), each on free loopback ports in
# its own run directory, remembered by PID; on request (not in the default
# set), a Sentinel-managed primary (redis-sentinel).
#
#   scripts/brokers.sh start [redis|rabbitmq|nats|kafka|redis-cluster ...]   (default: all five)
#   scripts/brokers.sh stop  [...]
#   scripts/brokers.sh status
#
# The run directory is $BROKERSIDE_RUN_DIR (default: .run/brokers in the
# repository). The tests read $BROKERSIDE_RUN_DIR/brokers.env, which holds
# each broker's URL, port and PID. stop kills only the PIDs start recorded.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
run_dir="${BROKERSIDE_RUN_DIR:-$root/.run/brokers}"
env_file="$run_dir/brokers.env"
known=(redis rabbitmq nats kafka redis-cluster redis-sentinel)
all=(redis rabbitmq nats kafka redis-cluster)  # what start does when no broker is named

die() { echo "brokers.sh: $*" >&2; exit 1; }

# A TCP port on 127.0.0.1 that nothing listens on right now, below the
# kernel's ephemeral range (tests/support/free_port.py says why).
free_port() {
  /usr/bin/python3 "$root/tests/support/free_port.py"
}

# A port for a cluster node: free, as is its cluster bus port (10,000 above).
free_cluster_port() {
  /usr/bin/python3 "$root/tests/support/free_port.py" --bus 10000
}

alive() { [[ -n ${1:-} ]] && kill -0 "$1" 2>/dev/null; }

# wait_until SECONDS DESCRIPTION COMMAND...: polls COMMAND every 0.1 s.
wait_until() {
  local limit=$1 what=$2; shift 2
  local deadline=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || return 1
    sleep 0.1
  done
}

# Remembered values: $run_dir/<broker>/<key> files.
put() { echo "$3" >"$run_dir/$1/$2"; }
get() { cat "$run_dir/$1/$2" 2>/dev/null || true; }

write_env() {
  local tmp="$env_file.tmp"
  : >"$tmp"
  for b in "${known[@]}"; do
    [[ -f $run_dir/$b/env ]] && cat "$run_dir/$b/env" >>"$tmp"
  done
  mv "$tmp" "$env_file"
}

start_redis() {
  local dir="$run_dir/redis" port
  port=$(free_port)
  redis-server --bind 127.0.0.1 --port "$port" --unixsocket "$dir/redis.sock" \
    --unixsocketperm 700 --dir "$dir" --appendonly yes --appendfsync everysec --save '' \
    --daemonize no --logfile "$dir/redis.log" </dev/null >/dev/null 2>&1 &
  put redis pid $!
  put redis port "$port"
  wait_until 10 redis redis-cli -p "$port" ping || die "redis did not start (see $dir/redis.log)"
  cat >"$dir/env" <<EOT
BROKERSIDE_REDIS_URL=redis://127.0.0.1:$port
BROKERSIDE_REDIS_PORT=$port
BROKERSIDE_REDIS_SOCKET=$dir/redis.sock
BROKERSIDE_REDIS_PID=$(get redis pid)
EOT
}

# Six cluster-enabled redis-servers joined by `redis-cli --cluster create`
# into 3 masters with a replica each; ready once every node says
# cluster_state:ok. BROKERSIDE_REDIS_CLUSTER_NODE_TIMEOUT (ms, default 5000)
# is how long a master may be silent before its replica takes over.
start_redis-cluster() {
  local dir="$run_dir/redis-cluster" ports=() pids=() port
  for _ in 1 2 3 4 5 6; do
    port=$(free_cluster_port)
    mkdir -p "$dir/$port"
    redis-server --bind 127.0.0.1 --port "$port" --dir "$dir/$port" --save '' --appendonly no \
      --cluster-enabled yes --cluster-config-file "$dir/$port/nodes.conf" \
      --cluster-node-timeout "${BROKERSIDE_REDIS_CLUSTER_NODE_TIMEOUT:-5000}" \
      --daemonize no --logfile "$dir/$port/redis.log" </dev/null >/dev/null 2>&1 &
    pids+=($!)
    ports+=("$port")
  done
  put redis-cluster pid "${pids[0]}"
  put redis-cluster pids "${pids[*]}"
  put redis-cluster port "${ports[0]}"
  for port in "${ports[@]}"; do
    wait_until 10 redis-cluster redis-cli -p "$port" ping ||
      die "redis-cluster did not start (see $dir/$port/redis.log)"
  done
  redis-cli --cluster create $(printf '127.0.0.1:%s ' "${ports[@]}") --cluster-replicas 1     --cluster-yes >"$dir/create.log" 2>&1 || die "redis-cli --cluster create failed (see $dir/create.log)"
  cluster_ok() {
    local p
    for p in "${ports[@]}"; do
      redis-cli -p "$p" cluster info | grep -q '^cluster_state:ok' || return 1
    done
    # Every replica attached (3 known to the first node) and in sync: one
    # that never synced cannot take over from its master.
    [[ $(redis-cli -p "${ports[0]}" cluster nodes | grep -c 'slave') == 3 ]] || return 1
    for p in "${ports[@]}"; do
      local info
      info=$(redis-cli -p "$p" info replication)
      [[ $info != *role:slave* || $info == *master_link_status:up* ]] || return 1
    done
    # And every node "online" in CLUSTER SHARDS: a replica says "loading"
    # for a few seconds after its sync, and clients leave it out until then.
    ! redis-cli -p "${ports[0]}" cluster shards | grep -qx 'loading'
  }
  wait_until 30 redis-cluster cluster_ok || die "redis-cluster did not become ok (see $dir)"
  cat >"$dir/env" <<EOT
BROKERSIDE_REDIS_CLUSTER_SEEDS=127.0.0.1:${ports[0]},127.0.0.1:${ports[1]},127.0.0.1:${ports[2]}
BROKERSIDE_REDIS_CLUSTER_PORTS=$(IFS=,; echo "${ports[*]}")
BROKERSIDE_REDIS_CLUSTER_PIDS=$(IFS=,; echo "${pids[*]}")
EOT
}

# A primary, its replica and one sentinel (redis-server --sentinel) that
# monitors them as "mymaster" (quorum 1, down after 1 s); ready once the
# replica is in sync and the sentinel knows it.
start_redis-sentinel() {
  local dir="$run_dir/redis-sentinel" primary replica sentinel pids=()
  primary=$(free_port)
  replica=$(free_port)
  sentinel=$(free_port)
  mkdir -p "$dir/primary" "$dir/replica"
  redis-server --bind 127.0.0.1 --port "$primary" --dir "$dir/primary" --save '' --appendonly no \
    --daemonize no --logfile "$dir/primary/redis.log" </dev/null >/dev/null 2>&1 &
  pids+=($!)
  redis-server --bind 127.0.0.1 --port "$replica" --dir "$dir/replica" --save '' --appendonly no \
    --replicaof 127.0.0.1 "$primary" --daemonize no --logfile "$dir/replica/redis.log" \
    </dev/null >/dev/null 2>&1 &
  pids+=($!)
  cat >"$dir/sentinel.conf" <<EOT
bind 127.0.0.1
port $sentinel
dir $dir
sentinel monitor mymaster 127.0.0.1 $primary 1
sentinel down-after-milliseconds mymaster 1000
sentinel failover-timeout mymaster 10000
EOT
  # A sentinel that asks for a password of its own (the primary's is apart).
  local auth=()
  if [[ -n ${BROKERSIDE_REDIS_SENTINEL_PASSWORD:-} ]]; then
    echo "requirepass $BROKERSIDE_REDIS_SENTINEL_PASSWORD" >>"$dir/sentinel.conf"
    auth=(--no-auth-warning -a "$BROKERSIDE_REDIS_SENTINEL_PASSWORD")
  fi
  redis-server "$dir/sentinel.conf" --sentinel --daemonize no --logfile "$dir/sentinel.log" \
    </dev/null >/dev/null 2>&1 &
  pids+=($!)
  put redis-sentinel pid "${pids[0]}"
  put redis-sentinel pids "${pids[*]}"
  put redis-sentinel port "$sentinel"
  sentinel_ready() {
    redis-cli -p "$replica" info replication | grep -q '^master_link_status:up' &&
      redis-cli -p "$sentinel" "${auth[@]}" sentinel replicas mymaster | grep -q "^$replica\$"
  }
  wait_until 30 redis-sentinel sentinel_ready || die "redis-sentinel did not become ready (see $dir)"
  cat >"$dir/env" <<EOT
BROKERSIDE_REDIS_SENTINEL_URL=redis+sentinel://127.0.0.1:$sentinel/mymaster
BROKERSIDE_REDIS_SENTINEL_PORT=$sentinel
BROKERSIDE_REDIS_SENTINEL_PRIMARY_PORT=$primary
BROKERSIDE_REDIS_SENTINEL_REPLICA_PORT=$replica
BROKERSIDE_REDIS_SENTINEL_PIDS=$(IFS=,; echo "${pids[*]}")
EOT
}

# The AMQP 0-9-1 protocol header gets a connection.start frame (type 1) back
# once RabbitMQ accepts connections.
amqp_ready() {
  /usr/bin/python3 - "$1" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1)
s.sendall(b"AMQP\x00\x00\x09\x01")
sys.exit(0 if s.recv(1) == b"\x01" else 1)
PY
}

start_rabbitmq() {
  local dir="$run_dir/rabbitmq" port epmd_port dist_port node
  port=$(free_port); epmd_port=$(free_port); dist_port=$(free_port)
  node="brokerside-$port@localhost"
  mkdir -p "$dir/mnesia" "$dir/log" "$dir/home"
  echo "[]." >"$dir/enabled_plugins"
  # Dedicated epmd on a private port, so no system epmd is touched.
  epmd -port "$epmd_port" -address 127.0.0.1 </dev/null >"$dir/log/epmd.log" 2>&1 &
  put rabbitmq epmd_pid $!
  env HOME="$dir/home" ERL_EPMD_PORT="$epmd_port" ERL_EPMD_ADDRESS=127.0.0.1 \
    RABBITMQ_NODENAME="$node" RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODE_PORT="$port" \
    RABBITMQ_DIST_PORT="$dist_port" RABBITMQ_MNESIA_BASE="$dir/mnesia" \
    RABBITMQ_LOG_BASE="$dir/log" RABBITMQ_ENABLED_PLUGINS_FILE="$dir/enabled_plugins" \
    RABBITMQ_CONFIG_FILE="$dir/rabbitmq" RABBITMQ_ADVANCED_CONFIG_FILE="$dir/advanced.config" \
    RABBITMQ_CONF_ENV_FILE="$dir/rabbitmq-env.conf" \
    /usr/lib/rabbitmq/bin/rabbitmq-server </dev/null >"$dir/log/stdout.log" 2>&1 &
  put rabbitmq pid $!
  put rabbitmq port "$port"
  wait_until 60 rabbitmq amqp_ready "$port" || die "rabbitmq did not start (see $dir/log)"
  # The wrapper script's child is the Erlang VM (beam.smp): the process a
  # fault test kills with -9.
  put rabbitmq beam_pid "$(pgrep -P "$(get rabbitmq pid)" | head -n1)"
  cat >"$dir/env" <<EOT
BROKERSIDE_AMQP_URL=amqp://guest:guest@127.0.0.1:$port/%2f
BROKERSIDE_AMQP_PORT=$port
BROKERSIDE_AMQP_PID=$(get rabbitmq pid)
BROKERSIDE_AMQP_BEAM_PID=$(get rabbitmq beam_pid)
EOT
}

start_nats() {
  local dir="$run_dir/nats" port monitor
  port=$(free_port); monitor=$(free_port)
  # With JetStream, its file store in the run directory.
  nats-server -a 127.0.0.1 -p "$port" -m "$monitor" -js -sd "$dir/jetstream" -l "$dir/nats.log" \
    </dev/null >/dev/null 2>&1 &
  put nats pid $!
  put nats port "$port"
  wait_until 10 nats curl -sf "http://127.0.0.1:$monitor/healthz" || die "nats did not start (see $dir/nats.log)"
  cat >"$dir/env" <<EOT
BROKERSIDE_NATS_URL=nats://127.0.0.1:$port
BROKERSIDE_NATS_PORT=$port
BROKERSIDE_NATS_PID=$(get nats pid)
EOT
}

start_kafka() {
  local dir="$run_dir/kafka" port controller classpath id
  classpath="$root/.cache/kafka/classpath.txt"
  [[ -s $classpath ]] || die "no Kafka classpath: run scripts/deps.sh"
  port=$(free_port); controller=$(free_port)
  mkdir -p "$dir/logs"
  cat >"$dir/server.properties" <<EOT
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$controller
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$dir/data
num.partitions=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
EOT
  cat >"$dir/log4j2.properties" <<'EOT'
rootLogger.level=INFO
rootLogger.appenderRef.file.ref=file
appender.file.type=File
appender.file.name=file
appender.file.fileName=${sys:kafka.logs.dir}/server.log
appender.file.layout.type=PatternLayout
appender.file.layout.pattern=[%d] %p %m (%c)%n
EOT
  local java=(java -Xms64m -Xmx384m -XX:+UseSerialGC -cp "$(cat "$classpath")"
              -Dlog4j2.configurationFile="$dir/log4j2.properties" -Dkafka.logs.dir="$dir/logs")
  id=$("${java[@]}" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n1)
  "${java[@]}" kafka.tools.StorageTool format -t "$id" -c "$dir/server.properties" \
    >"$dir/format.log" 2>&1 || die "kafka storage format failed (see $dir/format.log)"
  "${java[@]}" kafka.Kafka "$dir/server.properties" </dev/null >"$dir/stdout.log" 2>&1 &
  put kafka pid $!
  put kafka port "$port"
  wait_until 60 kafka grep -q "Kafka Server started" "$dir/logs/server.log" ||
    die "kafka did not start (see $dir/logs/server.log)"
  cat >"$dir/env" <<EOT
BROKERSIDE_KAFKA_URL=kafka://127.0.0.1:$port
BROKERSIDE_KAFKA_PORT=$port
BROKERSIDE_KAFKA_PID=$(get kafka pid)
EOT
}

# Sends TERM to the recorded PIDs, waits up to 30 s, then KILLs.
stop_pids() {
  local pids=() p
  for p in "$@"; do alive "$p" && pids+=("$p"); done
  ((${#pids[@]})) || return 0
  kill -TERM "${pids[@]}" 2>/dev/null || true
  local deadline=$((SECONDS + 30))
  while ((SECONDS < deadline)); do
    local left=0
    for p in "${pids[@]}"; do alive "$p" && left=1; done
    ((left)) || return 0
    sleep 0.1
  done
  kill -KILL "${pids[@]}" 2>/dev/null || true
}

stop_broker() {
  local b=$1
  [[ -d $run_dir/$b ]] || return 0
  case $b in
    # shellcheck disable=SC2046  # one word per PID
    redis-cluster | redis-sentinel) stop_pids $(get "$b" pids) ;;
    rabbitmq) stop_pids "$(get rabbitmq pid)" "$(get rabbitmq beam_pid)"
              stop_pids "$(get rabbitmq epmd_pid)" ;;
    *) stop_pids "$(get "$b" pid)" ;;
  esac
  rm -rf "${run_dir:?}/$b"
}

status_broker() {
  local b=$1 pid
  pid=$(get "$b" pid)
  if alive "$pid"; then
    echo "$b: running, pid $pid, port $(get "$b" port)"
    return 0
  fi
  echo "$b: stopped"
  return 1
}

cmd=${1:-}
shift || true
brokers=("$@")
# start: the default set; stop: every broker this knows, so nothing started
# by name is left running; status: the default set and any other started.
if ((${#brokers[@]} == 0)); then
  brokers=("${all[@]}")
  for b in "${known[@]}"; do
    [[ " ${all[*]} " == *" $b "* ]] && continue
    [[ $cmd == stop || ($cmd == status && -d $run_dir/$b) ]] && brokers+=("$b")
  done
fi
for b in "${brokers[@]}"; do
  [[ " ${known[*]} " == *" $b "* ]] || die "unknown broker '$b' (known: ${known[*]})"
done

case $cmd in
  start)
    mkdir -p "$run_dir"
    for b in "${brokers[@]}"; do
      if alive "$(get "$b" pid)"; then continue; fi
      stop_broker "$b"
      mkdir -p "$run_dir/$b"
      "start_$b"
    done
    write_env
    ;;
  stop)
    for b in "${brokers[@]}"; do stop_broker "$b"; done
    write_env 2>/dev/null || true
    ;;
  status)
    rc=0
    for b in "${brokers[@]}"; do status_broker "$b" || rc=3; done
    exit $rc
    ;;
  *)
    die "usage: brokers.sh start|stop|status [redis|rabbitmq|nats|kafka|redis-cluster|redis-sentinel ...]"
    ;;
esac
