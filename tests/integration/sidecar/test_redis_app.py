"""A Python app using Redis through brokerside (the binary, as deployed), with
redis-py reading the same server directly: what the app writes through the
sidecar is what a native client sees, and the sidecar reports it."""

import os
import threading
import time
import urllib.request
from pathlib import Path

import grpc
import redis

from brokerside.v1 import brokerside_pb2 as pb
from brokerside.v1 import brokerside_pb2_grpc as pb_grpc

ROOT = Path(__file__).resolve().parents[3]


def test_python_app_through_the_sidecar_matches_redis_py(sidecar, brokers):
    env = brokers
    s = sidecar("--target", f"cache={env['BROKERSIDE_REDIS_URL']}")
    native = redis.Redis.from_url(env["BROKERSIDE_REDIS_URL"])
    prefix = f"pyapp:{os.getpid()}:"
    with s.channel() as channel:
        broker = pb_grpc.BrokerStub(channel)

        # 1,000 SETs pipelined on one stream, as a throughput-minded app would.
        count = 1000

        def feed():
            for i in range(count):
                yield pb.SendStreamRequest(id=i, send=pb.SendRequest(
                    target="cache", command=pb.Command(args=[b"SET", f"{prefix}{i}".encode(), str(i).encode()])))

        outcomes = {r.id: r for r in broker.SendStream(feed(), timeout=30)}
        assert len(outcomes) == count
        assert all(r.status.code == 0 and r.result.reply.text == "OK" for r in outcomes.values())
        assert native.get(f"{prefix}777") == b"777"

        # Native writes are visible through the sidecar, binary-safe.
        native.set(f"{prefix}bin", b"\x00\xff\r\n")
        reply = broker.Send(pb.SendRequest(target="cache", command=pb.Command(args=[b"GET", f"{prefix}bin".encode()])), timeout=5).reply
        assert reply.bytes == b"\x00\xff\r\n"

        # A transaction on a lease.
        lease = broker.Acquire(pb.AcquireRequest(target="cache"), timeout=5).lease
        for args in ([b"MULTI"], [b"INCR", f"{prefix}n".encode()], [b"INCR", f"{prefix}n".encode()]):
            broker.Send(pb.SendRequest(target="cache", lease=lease, command=pb.Command(args=args)), timeout=5)
        exec_reply = broker.Send(pb.SendRequest(target="cache", lease=lease, command=pb.Command(args=[b"EXEC"])), timeout=5).reply
        assert [v.integer for v in exec_reply.array.values] == [1, 2]
        broker.Release(pb.ReleaseRequest(lease=lease), timeout=5)
        assert native.get(f"{prefix}n") == b"2"

        # Recv: a message redis-py publishes reaches the app's subscription.
        done = threading.Event()

        def subscribe():
            yield pb.RecvRequest(subscribe=pb.Subscribe(target="cache", sources=[f"{prefix}news"]))
            done.wait(10)

        stream = broker.Recv(subscribe(), timeout=10)
        assert next(stream).WhichOneof("kind") == "subscribed"
        assert native.publish(f"{prefix}news", b"from redis-py") == 1
        delivery = next(stream).delivery
        assert (delivery.source, delivery.message.body) == (f"{prefix}news", b"from redis-py")
        done.set()
        stream.cancel()

        # The cancel reaches the sidecar asynchronously: the subscription's
        # dedicated connection goes back within moments, not at once.
        give_up = time.monotonic() + 5
        while True:
            stats = broker.Stats(pb.StatsRequest(target="cache"), timeout=5).targets[0]
            if stats.pool.leased == 0 or time.monotonic() > give_up:
                break
            time.sleep(0.05)
        assert stats.healthy
        assert stats.counters.operations >= count + 5
        assert stats.pool.in_flight == 0 and stats.pool.leased == 0

    with urllib.request.urlopen(f"http://127.0.0.1:{s.admin_port}/metrics", timeout=5) as r:
        metrics = r.read().decode()
    assert 'brokerside_target_healthy{target="cache"} 1' in metrics
    assert 'brokerside_pool_connections{target="cache",state="idle"}' in metrics
    native.delete(*native.keys(f"{prefix}*"))
