"""Per-client limits (server.per_client): one gRPC connection may hold at most
`in_flight` operations (Send calls and SendStream operations together) and
`streams` open SendStream / Recv streams; beyond, RESOURCE_EXHAUSTED names the
client and the setting, counted in Stats and /metrics, while another client
(another connection) goes on unhindered, and what completes frees its place."""

import threading
import time
import uuid

import grpc
import pytest

from brokerside.v1 import brokerside_pb2 as pb
from brokerside.v1 import brokerside_pb2_grpc as pb_grpc
from conftest import http_get


def command(*args):
    return pb.Command(args=[a.encode() for a in args])


def own_channel(address):
    """A channel on a connection of its own (gRPC would otherwise share one
    between channels to the same address)."""
    return grpc.insecure_channel(address, options=[("grpc.use_local_subchannel_pool", 1)])


def test_in_flight_operations_per_client_are_limited_and_freed_on_completion(sidecar, brokers):
    s = sidecar("--target", f"cache={brokers['BROKERSIDE_REDIS_URL']}", "--server.per_client.in_flight=3")
    key = f"bs-client-{uuid.uuid4().hex[:8]}"
    with own_channel(s.address) as held, own_channel(s.address) as other:
        stub, other_stub = pb_grpc.BrokerStub(held), pb_grpc.BrokerStub(other)
        lease = stub.Acquire(pb.AcquireRequest(target="cache"), timeout=5).lease
        # Two BLPOPs block on the lease for 2 s, and one SendStream operation
        # waits behind them on the same lease: three in flight.
        blocked = [stub.Send.future(pb.SendRequest(target="cache", lease=lease, command=command("BLPOP", key, "2")),
                                    timeout=10) for _ in range(2)]
        go = threading.Event()

        def one_more():
            yield pb.SendStreamRequest(id=7, send=pb.SendRequest(target="cache", lease=lease,
                                                                 command=command("BLPOP", key, "2")))
            go.wait(10)

        streamed = stub.SendStream(one_more(), timeout=15)
        time.sleep(0.5)
        get = pb.SendRequest(target="cache", command=command("GET", key))
        with pytest.raises(grpc.RpcError) as e:
            stub.Send(get, timeout=5)
        assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert e.value.details().startswith("client ipv4:127.0.0.1:")
        assert e.value.details().endswith(" has 3 operations in flight, its most (server.per_client.in_flight)")
        assert other_stub.Send(get, timeout=5)  # another client is not held
        for f in blocked:
            f.result()
        assert next(streamed).id == 7
        go.set()
        list(streamed)
        assert stub.Send(get, timeout=5)  # freed on completion
        stub.Release(pb.ReleaseRequest(lease=lease), timeout=5)
        stats = stub.Stats(pb.StatsRequest(), timeout=5)
        assert (stats.client_limits.in_flight, stats.client_limits.streams) == (3, 1000)
        assert stats.client_limits.refused_in_flight == 1 and stats.client_limits.refused_streams == 0
    _, metrics = http_get(s.admin_port, "/metrics")
    assert 'brokerside_client_limit_refusals_total{limit="in_flight"} 1\n' in metrics
    assert 'brokerside_client_limit_refusals_total{limit="streams"} 0\n' in metrics


def test_open_streams_per_client_are_limited_and_freed_when_one_ends(sidecar, brokers):
    s = sidecar("--target", f"cache={brokers['BROKERSIDE_REDIS_URL']}", "--server.per_client.streams=2")
    subscribe = pb.RecvRequest(subscribe=pb.Subscribe(target="cache", sources=[f"bs-client-{uuid.uuid4().hex}"]))
    with own_channel(s.address) as held, own_channel(s.address) as other:
        stub, other_stub = pb_grpc.BrokerStub(held), pb_grpc.BrokerStub(other)
        stops = [threading.Event() for _ in range(2)]

        def until(stop):
            yield subscribe
            stop.wait(20)

        open_streams = [stub.Recv(until(stop), timeout=30) for stop in stops]
        for st in open_streams:
            assert next(st).HasField("subscribed")
        with pytest.raises(grpc.RpcError) as e:
            next(stub.Recv(iter([subscribe]), timeout=5))
        assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert e.value.details().endswith(" has 2 streams open, its most (server.per_client.streams)")
        # Another client opens its own.
        # (Its request stream stays open: a half-close right after the
        # subscribe could end it before it is subscribed.)
        open_theirs = threading.Event()
        theirs = other_stub.Recv(until(open_theirs), timeout=5)
        assert next(theirs).HasField("subscribed")
        open_theirs.set()
        theirs.cancel()
        # One ends: there is room again.
        stops[0].set()
        assert list(open_streams[0]) == []
        again = threading.Event()
        third = stub.Recv(until(again), timeout=30)
        assert next(third).HasField("subscribed")
        again.set()
        stops[1].set()
        list(third), list(open_streams[1])
        stats = stub.Stats(pb.StatsRequest(), timeout=5)
        assert stats.client_limits.refused_streams == 1
    _, metrics = http_get(s.admin_port, "/metrics")
    assert 'brokerside_client_limit_refusals_total{limit="streams"} 1\n' in metrics
