"""Redis Recv streams share a target's subscriber connections: each channel
subscribed once however many streams want it, every message fanned out to
each of them (with each stream's own credit), one stream leaving takes
nothing from the others, hundreds of streams on a few connections (at most
subscriber_connections, as CLIENT LIST counts them), and everything
subscribed again after the broker is killed -9 and comes back."""

import time
import uuid

import grpc
import redis

from brokerside.v1 import brokerside_pb2 as pb
from brokerside.v1 import brokerside_pb2_grpc as pb_grpc
from conftest import http_get, wait_for
from own_brokers import OwnRedis
from recv_stream import Stream


def subscriber_connections(client, name):
    """Connections named `name` in subscriber mode, as Redis counts them."""
    return sum(1 for c in client.client_list() if c.get("name") == name and int(c.get("sub", 0)) +
               int(c.get("psub", 0)) + int(c.get("ssub", 0)) > 0)


def publish(stub, target, channel, body):
    return stub.Send(pb.SendRequest(target=target, publish=pb.Publish(destination=channel,
                                                                      message=pb.Message(body=body))),
                     timeout=5).published.receivers


def test_streams_on_one_channel_share_its_subscription_and_each_gets_every_message(sidecar, brokers):
    name = f"bs-shared-{uuid.uuid4().hex[:8]}"
    url = f"{brokers['BROKERSIDE_REDIS_URL']}?client_name={name}"
    s = sidecar("--target", f"cache={url}")
    client = redis.Redis.from_url(brokers["BROKERSIDE_REDIS_URL"])
    channel = f"{name}.news"
    with s.channel() as ch:
        stub = pb_grpc.BrokerStub(ch)
        a, b = Stream(stub, "cache", [channel]), Stream(stub, "cache", [channel])
        assert a.subscribed.wait(10) and b.subscribed.wait(10)
        # One subscription at Redis for both: one receiver.
        assert [publish(stub, "cache", channel, f"m{i}".encode()) for i in range(50)] == [1] * 50
        assert wait_for(lambda: len(a.bodies) == 50 and len(b.bodies) == 50)
        assert a.bodies == b.bodies == [f"m{i}".encode() for i in range(50)]
        assert subscriber_connections(client, name) == 1
        # One leaves: the other goes on getting everything.
        a.close()
        for i in range(50, 100):
            publish(stub, "cache", channel, f"m{i}".encode())
        assert wait_for(lambda: len(b.bodies) == 100)
        assert b.bodies == [f"m{i}".encode() for i in range(100)] and len(a.bodies) == 50
        # The last one leaves: unsubscribed at Redis.
        b.close()
        assert wait_for(lambda: client.pubsub_numsub(channel)[0][1] == 0)
        assert publish(stub, "cache", channel, b"nobody") == 0
        assert a.error is None and b.error is None


def test_a_stream_whose_deadline_passes_is_let_go_at_once(sidecar, brokers):
    """gRPC serves the sidecar from its I/O threads (README: the thread
    model); a call that gRPC ends by itself must still reach the stream at
    once: its subscription gone from Stats and from Redis."""
    name = f"bs-deadline-{uuid.uuid4().hex[:8]}"
    s = sidecar("--target", f"cache={brokers['BROKERSIDE_REDIS_URL']}")
    client = redis.Redis.from_url(brokers["BROKERSIDE_REDIS_URL"])
    channel = f"{name}.news"
    with s.channel() as ch:
        stub = pb_grpc.BrokerStub(ch)

        def open_streams():
            stats = stub.Stats(pb.StatsRequest(target="cache"), timeout=5)
            return len(stats.targets[0].subscriptions)

        started = time.monotonic()
        a = Stream(stub, "cache", [channel], timeout=1.5)
        assert a.subscribed.wait(10) and open_streams() == 1
        assert wait_for(lambda: open_streams() == 0)
        let_go = time.monotonic() - started - 1.5
        print(f"stream let go {let_go * 1000:.0f} ms after its deadline")
        assert let_go < 1.0
        assert wait_for(lambda: client.pubsub_numsub(channel)[0][1] == 0)
        assert a.error is not None and a.error.code() == grpc.StatusCode.DEADLINE_EXCEEDED


def test_hundreds_of_streams_share_a_few_connections(sidecar, brokers):
    name = f"bs-shared-{uuid.uuid4().hex[:8]}"
    url = f"{brokers['BROKERSIDE_REDIS_URL']}?client_name={name}"
    s = sidecar("--target", f"cache={url}", "--targets.cache.subscriber_connections=3")
    client = redis.Redis.from_url(brokers["BROKERSIDE_REDIS_URL"])
    count = 300
    with s.channel() as ch:
        stub = pb_grpc.BrokerStub(ch)
        streams = [Stream(stub, "cache", [f"{name}.c{i}"], credit=10) for i in range(count)]
        patterns = [Stream(stub, "cache", [f"{name}.c1*"], kind=pb.SOURCE_KIND_PATTERN) for _ in range(2)]
        try:
            assert all(st.subscribed.wait(20) for st in streams + patterns)
            assert subscriber_connections(client, name) == 3
            _, metrics = http_get(s.admin_port, "/metrics")
            assert 'brokerside_subscriber_connections{target="cache"} 3\n' in metrics
            for i in range(count):
                publish(stub, "cache", f"{name}.c{i}", f"to {i}".encode())
            assert wait_for(lambda: all(len(st.bodies) == 1 for st in streams), timeout=20)
            assert all(st.bodies == [f"to {i}".encode()] for i, st in enumerate(streams))
            # c1, c10-c19, c100-c199: 111 channels the pattern matches, each to both pattern streams.
            assert wait_for(lambda: all(len(p.bodies) == 111 for p in patterns), timeout=20)
            print(f"\n{count} channel streams and 2 pattern streams on "
                  f"{subscriber_connections(client, name)} subscriber connections")
        finally:
            for st in streams + patterns:
                st.close()
        assert all(st.error is None for st in streams + patterns)


def test_subscriptions_come_back_after_the_broker_is_killed(sidecar, tmp_path):
    server = OwnRedis(tmp_path)
    try:
        s = sidecar("--target", f"cache={server.url}")
        channel = "restored.news"
        with s.channel() as ch:
            stub = pb_grpc.BrokerStub(ch)
            streams = [Stream(stub, "cache", [channel]), Stream(stub, "cache", ["restored.*"],
                                                                kind=pb.SOURCE_KIND_PATTERN)]
            assert all(st.subscribed.wait(10) for st in streams)
            assert publish(stub, "cache", channel, b"before") == 2
            assert wait_for(lambda: all(st.bodies == [b"before"] for st in streams))
            server.kill9()
            server.start()

            def both_back():  # bounded: wait_for's 20 s
                try:
                    return publish(stub, "cache", channel, b"probe") == 2
                except grpc.RpcError:
                    return False
            assert wait_for(both_back, timeout=20)
            publish(stub, "cache", channel, b"after")
            assert wait_for(lambda: all(st.bodies[-1:] == [b"after"] for st in streams))
            for st in streams:
                st.close()
            assert all(st.error is None for st in streams)
    finally:
        server.close()
