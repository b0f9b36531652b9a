"""scripts/brokers.sh starts real brokers on free loopback ports, reports
them, and stops exactly the processes it started."""

import os
import socket
import subprocess
import time
from pathlib import Path

import pika
import redis
from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "scripts" / "brokers.sh"


def brokers(run_dir, *args):
    env = dict(os.environ, BROKERSIDE_RUN_DIR=str(run_dir))
    return subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=180)


def read_env(path):
    values = {}
    for line in path.read_text().splitlines():
        key, _, value = line.partition("=")
        values[key] = value
    return values


def alive(pid):
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    return True


def test_start_status_stop(tmp_path):
    run_dir = tmp_path / "brokers"
    pids = []
    try:
        started = brokers(run_dir, "start")
        assert started.returncode == 0, started.stderr
        env = read_env(run_dir / "brokers.env")

        status = brokers(run_dir, "status")
        assert status.returncode == 0
        assert [line.split(":")[0] for line in status.stdout.splitlines()] == ["redis", "rabbitmq", "nats", "kafka",
                                                                             "redis-cluster"]
        assert all("running" in line for line in status.stdout.splitlines())

        # Each is a real, working broker on loopback.
        r = redis.Redis.from_url(env["BROKERSIDE_REDIS_URL"])
        assert r.ping()
        r.set("brokers-test", b"v")
        assert r.get("brokers-test") == b"v"
        assert redis.Redis(unix_socket_path=env["BROKERSIDE_REDIS_SOCKET"]).ping()

        connection = pika.BlockingConnection(pika.URLParameters(env["BROKERSIDE_AMQP_URL"]))
        channel = connection.channel()
        channel.queue_declare("brokers-test", exclusive=True)
        channel.basic_publish("", "brokers-test", b"hello")
        method, _, body = channel.basic_get("brokers-test", auto_ack=True)
        assert body == b"hello"
        connection.close()

        with socket.create_connection(("127.0.0.1", int(env["BROKERSIDE_NATS_PORT"])), timeout=5) as s:
            assert s.recv(4) == b"INFO"

        kafka = env["BROKERSIDE_KAFKA_URL"].removeprefix("kafka://")
        admin = KafkaAdminClient(bootstrap_servers=kafka)
        admin.create_topics([NewTopic("brokers-test", 1, 1)])  # (automatic creation is off)
        admin.close()
        producer = KafkaProducer(bootstrap_servers=kafka, acks="all")
        assert producer.send("brokers-test", b"hello").get(timeout=30).offset == 0
        producer.close()

        # A Redis Cluster: 3 masters serving every slot, a replica each.
        from redis.cluster import ClusterNode, RedisCluster
        host, port = env["BROKERSIDE_REDIS_CLUSTER_SEEDS"].split(",")[0].split(":")
        cluster = RedisCluster(startup_nodes=[ClusterNode(host, int(port))])
        assert len(cluster.get_primaries()) == 3
        nodes = redis.Redis(host=host, port=int(port)).execute_command("CLUSTER", "NODES").decode()
        assert nodes.count("slave") == 3
        cluster.set("brokers-test", b"v")
        assert cluster.get("brokers-test") == b"v"
        cluster.close()

        # start is idempotent: the same brokers keep running.
        again = brokers(run_dir, "start")
        assert again.returncode == 0
        assert read_env(run_dir / "brokers.env")["BROKERSIDE_REDIS_PID"] == env["BROKERSIDE_REDIS_PID"]

        pids = [env[k] for k in ("BROKERSIDE_REDIS_PID", "BROKERSIDE_AMQP_PID", "BROKERSIDE_AMQP_BEAM_PID",
                                 "BROKERSIDE_NATS_PID", "BROKERSIDE_KAFKA_PID")]
        pids += env["BROKERSIDE_REDIS_CLUSTER_PIDS"].split(",")
        assert all(alive(p) for p in pids)
    finally:
        stopped = brokers(run_dir, "stop")
    assert stopped.returncode == 0, stopped.stderr
    assert not any(alive(p) for p in pids)
    status = brokers(run_dir, "status")
    assert status.returncode == 3
    assert status.stdout.splitlines() == ["redis: stopped", "rabbitmq: stopped", "nats: stopped", "kafka: stopped",
                                          "redis-cluster: stopped"]


def test_unknown_broker_is_refused(tmp_path):
    result = brokers(tmp_path, "start", "mysql")
    assert result.returncode == 1
    assert result.stderr == "brokers.sh: unknown broker 'mysql' (known: redis rabbitmq nats kafka redis-cluster redis-sentinel)\n"
