"""The Python side of the benchmarks (P4, P5), run from the project's venv.

  py_apps.py pika-publish  --amqp URL --count N [--payload 64] [--queue bench]
  py_apps.py redis-set     --redis-port P --duration S [--payload 64]
  py_apps.py grpc-set      --address HOST:PORT --duration S [--window 1] [--payload 64]
  py_apps.py grpc-tasks    --address HOST:PORT --duration S [--tasks 64] [--payload 64]
  py_apps.py redis-tasks   --redis-port P --duration S [--tasks 64] [--payload 64]
  py_apps.py kafka-topic   --kafka HOST:PORT --topic T            (P8: a new topic, one partition)
  py_apps.py kafka-publish --kafka HOST:PORT --topic T --count N  (kafka-python, acks=all)
  py_apps.py kcat-produce  --kafka HOST:PORT --topic T --count N  (kcat -P, acks=all, idempotent)
  py_apps.py kcat-consume  --kafka HOST:PORT --topic T --count N  (kcat -C from the beginning)

Each prints one JSON object: ops, seconds, throughput and exact latency
percentiles (every sample kept; nearest rank), like bench_load.
pika-publish: pika's BlockingConnection with confirm_delivery, one publish
at a time (each waits for its confirm), to the default exchange.
redis-set: redis-py, one SET at a time. grpc-set: grpc.aio, SETs through
one SendStream; --window 1 is one at a time (each waits for its answer).
grpc-tasks / redis-tasks (P5): an asyncio app whose --tasks tasks each do
SET after SET, through one batched SendStream (BatchingClient: what is
ready goes out as one message, outcomes come back coalesced) or through
redis.asyncio with a connection pool.
"""

import argparse
import asyncio
import json
import math
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def summary(name, latencies_ns, seconds, errors=0, **extra):
    s = sorted(latencies_ns)

    def pct(p):
        if not s:
            return 0.0
        rank = min(max(math.ceil(p / 100 * len(s)), 1), len(s))
        return s[rank - 1] / 1000

    out = {
        "mode": name,
        "ops": len(s),
        "errors": errors,
        "seconds": seconds,
        "throughput": len(s) / seconds if seconds else 0,
        "latency_us": {
            "method": "exact (every sample kept and sorted; nearest rank)",
            "min": pct(0), "p50": pct(50), "p90": pct(90), "p99": pct(99),
            "p999": pct(99.9), "max": s[-1] / 1000 if s else 0,
            "mean": sum(s) / len(s) / 1000 if s else 0,
        },
    }
    out.update(extra)
    return out


def pika_publish(a):
    import pika

    connection = pika.BlockingConnection(pika.URLParameters(a.amqp))
    channel = connection.channel()
    channel.queue_declare(queue=a.queue)
    channel.queue_purge(queue=a.queue)
    channel.confirm_delivery()
    body = b"x" * a.payload
    for _ in range(min(200, a.count)):  # warm-up
        channel.basic_publish(exchange="", routing_key=a.queue, body=body)
    lat = []
    start = time.perf_counter()
    for _ in range(a.count):
        t = time.perf_counter_ns()
        channel.basic_publish(exchange="", routing_key=a.queue, body=body)
        lat.append(time.perf_counter_ns() - t)
        if time.perf_counter() - start > a.max_seconds:
            break
    seconds = time.perf_counter() - start
    channel.queue_purge(queue=a.queue)
    connection.close()
    return summary("pika-publish", lat, seconds, payload_bytes=a.payload)


async def nats_publish(a):
    """Core NATS publishing as `nats bench` does it: publish after publish into
    the client's buffer, one flush (PING / PONG) at the end: the server has
    them all when it returns."""
    import nats

    nc = await nats.connect(a.nats, pending_size=64 * 1024 * 1024)
    body = b"x" * a.payload
    for _ in range(min(2000, a.count)):  # warm-up
        await nc.publish(a.subject, body)
    await nc.flush()
    start = time.perf_counter()
    for _ in range(a.count):
        await nc.publish(a.subject, body)
    await nc.flush(timeout=60)
    seconds = time.perf_counter() - start
    await nc.close()
    out = summary("nats-py-publish", [], seconds, payload_bytes=a.payload)
    out["ops"], out["throughput"] = a.count, a.count / seconds  # no latency per publish
    return out


async def nats_js_publish(a):
    """JetStream publishing with nats-py, each publish awaiting its PubAck,
    `tasks` at once (as brokerside's stream keeps 64 in flight). Creates (or
    empties) the memory stream `a.stream` on `a.subject` first."""
    import nats

    nc = await nats.connect(a.nats)
    js = nc.jetstream()
    try:
        await js.add_stream(name=a.stream, subjects=[a.subject], storage="memory")
    except Exception:  # exists
        pass
    await js.purge_stream(a.stream)
    body = b"x" * a.payload
    for _ in range(min(200, a.count)):  # warm-up
        await js.publish(a.subject, body)
    lat = []
    left = a.count

    async def worker():
        nonlocal left
        while left > 0:
            left -= 1
            t = time.perf_counter_ns()
            await js.publish(a.subject, body)
            lat.append(time.perf_counter_ns() - t)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(a.tasks)))
    seconds = time.perf_counter() - start
    await js.purge_stream(a.stream)
    await nc.close()
    return summary("nats-py-js-publish", lat, seconds, payload_bytes=a.payload, tasks=a.tasks)


def redis_set(a):
    import redis

    r = redis.Redis(host="127.0.0.1", port=a.redis_port)
    value = b"x" * a.payload
    warm = time.perf_counter() + a.warmup
    while time.perf_counter() < warm:
        r.set(a.key, value)
    lat = []
    start = time.perf_counter()
    end = start + a.duration
    while True:
        t = time.perf_counter_ns()
        r.set(a.key, value)
        lat.append(time.perf_counter_ns() - t)
        if time.perf_counter() >= end:
            break
    seconds = time.perf_counter() - start
    r.close()
    return summary("redis-py-set", lat, seconds, payload_bytes=a.payload)


def load_stubs():
    from grpc_tools import protoc
    import grpc_tools

    out = Path(tempfile.mkdtemp(prefix="brokerside-bench-stubs-"))
    include = Path(grpc_tools.__file__).parent / "_proto"
    args = ["protoc", f"-I{ROOT / 'proto'}", f"-I{include}", f"--python_out={out}",
            f"--grpc_python_out={out}", "brokerside/v1/brokerside.proto"]
    if protoc.main(args) != 0:
        raise RuntimeError("protoc failed")
    sys.path.insert(0, str(out))
    from brokerside.v1 import brokerside_pb2, brokerside_pb2_grpc

    return brokerside_pb2, brokerside_pb2_grpc


async def grpc_set(a):
    import grpc

    pb, pb_grpc = load_stubs()
    value = b"x" * a.payload
    errors = 0
    async with grpc.aio.insecure_channel(a.address) as channel:
        stub = pb_grpc.BrokerStub(channel)
        call = stub.SendStream()
        sent = {}
        lat = []
        next_id = 0
        phase = "warmup"

        async def send_one():
            nonlocal next_id
            next_id += 1
            sent[next_id] = time.perf_counter_ns()
            await call.write(pb.SendStreamRequest(id=next_id, send=pb.SendRequest(
                target=a.target, command=pb.Command(args=[b"SET", a.key.encode(), value]))))

        warm_end = time.perf_counter() + a.warmup
        for _ in range(a.window):
            await send_one()
        start = end = None
        while sent:
            response = await call.read()
            now = time.perf_counter_ns()
            t = sent.pop(response.id)
            if phase == "measure":
                if response.status.code == 0:
                    lat.append(now - t)
                else:
                    errors += 1
            clock = time.perf_counter()
            if phase == "warmup" and clock >= warm_end:
                phase, start, end = "measure", clock, clock + a.duration
            elif phase == "measure" and clock >= end:
                phase = "stop"
            if phase != "stop":
                await send_one()
        seconds = time.perf_counter() - start
        await call.done_writing()
        await call.read()  # end of stream
    return summary("grpc-sendstream-set", lat, seconds, errors, window=a.window,
                   payload_bytes=a.payload)


class BatchingClient:
    """Many asyncio tasks over one SendStream: each send() waits for its own
    outcome; what the tasks queued meanwhile goes out as one batch."""

    def __init__(self, stub, pb):
        self.pb = pb
        self.call = stub.SendStream()
        self.queued = []                      # StreamOperations not yet written
        self.waiting = {}                     # id -> future
        self.ready = asyncio.Event()
        self.next_id = 0
        self.tasks = [asyncio.ensure_future(self._write()), asyncio.ensure_future(self._read())]

    async def send(self, request):
        self.next_id += 1
        future = asyncio.get_running_loop().create_future()
        self.waiting[self.next_id] = future
        self.queued.append(self.pb.StreamOperation(id=self.next_id, send=request))
        self.ready.set()
        return await future                   # (status, result)

    async def _write(self):
        while True:
            await self.ready.wait()
            self.ready.clear()
            batch, self.queued = self.queued, []
            if batch:
                await self.call.write(self.pb.SendStreamRequest(operations=batch))

    async def _read(self):
        while True:
            response = await self.call.read()
            if response is grpc_eof():
                return
            for outcome in response.outcomes:
                self.waiting.pop(outcome.id).set_result((outcome.status, outcome.result))

    async def close(self):
        self.tasks[0].cancel()
        await self.call.done_writing()
        await self.tasks[1]


def grpc_eof():
    import grpc

    return grpc.aio.EOF


async def run_tasks(name, tasks, warmup, duration, set_once, **extra):
    """`tasks` coroutines doing set_once() in a loop; latencies of the
    measured window."""
    lat, errors = [], 0
    phase = {"measure": False, "stop": False}

    async def worker():
        nonlocal errors
        while not phase["stop"]:
            t = time.perf_counter_ns()
            ok = await set_once()
            if phase["measure"] and not phase["stop"]:
                if ok:
                    lat.append(time.perf_counter_ns() - t)
                else:
                    errors += 1

    workers = [asyncio.ensure_future(worker()) for _ in range(tasks)]
    await asyncio.sleep(warmup)
    phase["measure"] = True
    start = time.perf_counter()
    await asyncio.sleep(duration)
    phase["stop"] = True
    seconds = time.perf_counter() - start
    await asyncio.gather(*workers)
    return summary(name, lat, seconds, errors, tasks=tasks, **extra)


async def grpc_tasks(a):
    import grpc

    pb, pb_grpc = load_stubs()
    request = pb.SendRequest(target=a.target,
                             command=pb.Command(args=[b"SET", a.key.encode(), b"x" * a.payload]))
    async with grpc.aio.insecure_channel(a.address) as channel:
        client = BatchingClient(pb_grpc.BrokerStub(channel), pb)

        async def set_once():
            status, _ = await client.send(request)
            return status.code == 0

        out = await run_tasks("grpc-batched-sendstream-tasks", a.tasks, a.warmup, a.duration,
                              set_once, payload_bytes=a.payload)
        await client.close()
    return out


async def redis_tasks(a):
    import redis.asyncio

    r = redis.asyncio.Redis(host="127.0.0.1", port=a.redis_port, max_connections=a.tasks)
    value = b"x" * a.payload

    async def set_once():
        return bool(await r.set(a.key, value))

    out = await run_tasks("redis-asyncio-pool-tasks", a.tasks, a.warmup, a.duration, set_once,
                          payload_bytes=a.payload)
    await r.aclose() if hasattr(r, "aclose") else await r.close()
    return out


def kafka_topic(a):
    """Makes topic a.topic (a new name each run) with one partition."""
    from kafka.admin import KafkaAdminClient, NewTopic

    admin = KafkaAdminClient(bootstrap_servers=a.kafka)
    admin.create_topics([NewTopic(a.topic, num_partitions=1, replication_factor=1)])
    admin.close()
    return {"mode": "kafka-topic", "topic": a.topic}


def kafka_publish(a):
    """kafka-python as an app would use it: send() after send() (it batches
    and pipelines; linger 5 ms as brokerside's producer), acks=all, one
    flush at the end: every record acknowledged when it returns."""
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=a.kafka, acks="all", linger_ms=5)
    body = b"x" * a.payload
    for _ in range(min(2000, a.count)):  # warm-up
        producer.send(a.topic, body)
    producer.flush(60)
    start = time.perf_counter()
    futures = [producer.send(a.topic, body) for _ in range(a.count)]
    producer.flush(120)
    seconds = time.perf_counter() - start
    errors = sum(1 for f in futures if f.failed())
    producer.close()
    out = summary("kafka-python-publish", [], seconds, errors=errors, payload_bytes=a.payload)
    out["ops"], out["throughput"] = a.count, a.count / seconds  # no latency per record
    return out


def kcat(a, args, stdin=None):
    """Runs kcat with `args`; (seconds it took, its exit code)."""
    import subprocess

    start = time.perf_counter()
    done = subprocess.run(["kcat", "-b", a.kafka, *args], stdin=stdin, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, timeout=300)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.stderr.write(done.stderr.decode(errors="replace"))
    return seconds, done.returncode


def kcat_produce(a):
    """kcat producing a.count records of a.payload bytes straight to the
    broker with the settings brokerside's producer has (acks=all,
    idempotent, linger 5 ms): librdkafka's own ceiling. It exits once every
    record is acknowledged; its start and its connect are in the time."""
    with tempfile.TemporaryFile() as lines:
        lines.write((b"x" * a.payload + b"\n") * a.count)
        lines.seek(0)
        seconds, code = kcat(a, ["-P", "-t", a.topic, "-X", "acks=all", "-X", "enable.idempotence=true",
                                 "-X", "linger.ms=5"], stdin=lines)
    out = summary("kcat-produce", [], seconds, errors=int(code != 0), payload_bytes=a.payload)
    out["ops"], out["throughput"] = a.count, a.count / seconds
    return out


def kcat_consume(a):
    """kcat reading a.count records from the beginning of a.topic's one
    partition (no group, nothing committed): librdkafka's own ceiling."""
    seconds, code = kcat(a, ["-C", "-t", a.topic, "-o", "beginning", "-c", str(a.count), "-q", "-e"])
    out = summary("kcat-consume", [], seconds, errors=int(code != 0))
    out["ops"], out["throughput"] = a.count, a.count / seconds
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["pika-publish", "redis-set", "grpc-set", "grpc-tasks",
                                    "redis-tasks", "nats-publish", "nats-js-publish", "kafka-topic",
                                    "kafka-publish", "kcat-produce", "kcat-consume"])
    p.add_argument("--kafka")
    p.add_argument("--topic")
    p.add_argument("--nats")
    p.add_argument("--subject", default="bench.p9")
    p.add_argument("--stream", default="BENCHP9")
    p.add_argument("--amqp")
    p.add_argument("--redis-port", type=int)
    p.add_argument("--address")
    p.add_argument("--target", default="cache")
    p.add_argument("--key", default="bench:key")
    p.add_argument("--queue", default="bench")
    p.add_argument("--count", type=int, default=5000)
    p.add_argument("--max-seconds", type=float, default=60)
    p.add_argument("--duration", type=float, default=5)
    p.add_argument("--warmup", type=float, default=1)
    p.add_argument("--window", type=int, default=1)
    p.add_argument("--tasks", type=int, default=64)
    p.add_argument("--payload", type=int, default=64)
    p.add_argument("--label", default="")
    a = p.parse_args()
    if a.mode == "pika-publish":
        out = pika_publish(a)
    elif a.mode == "redis-set":
        out = redis_set(a)
    elif a.mode == "grpc-tasks":
        out = asyncio.run(grpc_tasks(a))
    elif a.mode == "redis-tasks":
        out = asyncio.run(redis_tasks(a))
    elif a.mode == "nats-publish":
        out = asyncio.run(nats_publish(a))
    elif a.mode == "nats-js-publish":
        out = asyncio.run(nats_js_publish(a))
    elif a.mode in ("kafka-topic", "kafka-publish", "kcat-produce", "kcat-consume"):
        out = {"kafka-topic": kafka_topic, "kafka-publish": kafka_publish, "kcat-produce": kcat_produce,
               "kcat-consume": kcat_consume}[a.mode](a)
    else:
        out = asyncio.run(grpc_set(a))
    out["label"] = a.label
    print(json.dumps(out))


if __name__ == "__main__":
    main()
