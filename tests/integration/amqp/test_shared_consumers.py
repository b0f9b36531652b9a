"""AMQP Recv streams share a target's consumer connections: each stream a
consumer on a channel of its own, with its own prefetch, hundreds of them on
at most subscriber_connections connections (as the kernel counts the
sidecar's sockets to RabbitMQ); a channel error (a missing queue) ends only
its own stream; beyond subscriber_connections x channels_per_connection a
stream is refused with RESOURCE_EXHAUSTED naming both, and one that ends
makes room."""

import queue
import subprocess
import threading
import uuid

import grpc
import pika

from brokerside.v1 import brokerside_pb2 as pb
from brokerside.v1 import brokerside_pb2_grpc as pb_grpc
from conftest import http_get, wait_for


class Stream:
    """A Recv stream on a thread of its own: deliveries collected, acks sent
    with ack()."""

    def __init__(self, stub, target, sources, credit=100):
        self.deliveries, self.subscribed, self.error = [], threading.Event(), None
        self._out = queue.Queue()

        def requests():
            yield pb.RecvRequest(subscribe=pb.Subscribe(target=target, sources=sources, credit=credit))
            while (r := self._out.get()) is not None:
                yield r

        self._call = stub.Recv(requests(), timeout=120)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        try:
            for r in self._call:
                if r.HasField("subscribed"):
                    self.subscribed.set()
                elif r.HasField("delivery"):
                    self.deliveries.append(r.delivery)
        except grpc.RpcError as e:
            self.error = e

    def bodies(self):
        return [d.message.body for d in self.deliveries]

    def ack(self, ids):
        self._out.put(pb.RecvRequest(ack=pb.Ack(delivery_ids=ids)))

    def close(self):
        self._out.put(None)
        self._thread.join(10)
        self._call.cancel()


def connections_to(pid, port):
    """Established TCP connections of process `pid` to `port`, as the kernel
    counts them."""
    out = subprocess.run(["ss", "-tnpH", "state", "established", f"( dport = :{port} )"],
                         capture_output=True, text=True, check=True).stdout
    return sum(1 for line in out.splitlines() if f"pid={pid}," in line)


def declare(stub, name, auto_delete=True):
    options = {"auto_delete": pb.Value(boolean=auto_delete)}
    stub.Send(pb.SendRequest(target="events", command=pb.Command(args=[b"queue.declare", name.encode()],
                                                                 options=options)),
              timeout=5)


def publish(stub, name, body):
    stub.Send(pb.SendRequest(target="events", publish=pb.Publish(routing_key=name, message=pb.Message(body=body))),
              timeout=5)


def test_hundreds_of_consumers_share_a_few_connections(sidecar, brokers):
    s = sidecar("--target", f"events={brokers['BROKERSIDE_AMQP_URL']}", "--targets.events.pool.min_idle=1")
    run = uuid.uuid4().hex[:8]
    count = 200
    names = [f"shared.{run}.{i}" for i in range(count)]
    with s.channel() as ch:
        stub = pb_grpc.BrokerStub(ch)
        for name in names:
            declare(stub, name)
        streams = [Stream(stub, "events", [name], credit=5) for name in names]
        try:
            assert all(st.subscribed.wait(30) for st in streams)
            for i, name in enumerate(names):
                publish(stub, name, f"to {i}".encode())
            assert wait_for(lambda: all(len(st.deliveries) == 1 for st in streams), timeout=30)
            assert all(st.bodies() == [f"to {i}".encode()] for i, st in enumerate(streams))
            # 4 consumer connections (the default) and the pool's own.
            _, metrics = http_get(s.admin_port, "/metrics")
            assert 'brokerside_subscriber_connections{target="events"} 4\n' in metrics
            total = connections_to(s.proc.pid, brokers["BROKERSIDE_AMQP_PORT"])
            assert 5 <= total <= 6, total
            print(f"\n{count} consumers: {total} connections from the sidecar to RabbitMQ "
                  f"(4 shared by the consumers, the rest the pool's)")
            for st in streams:
                st.ack([st.deliveries[0].delivery_id])
        finally:
            for st in streams:
                st.close()
        assert all(st.error is None for st in streams), [st.error for st in streams if st.error][:1]


def test_each_stream_has_its_own_prefetch_and_a_channel_error_ends_only_its_own(sidecar, brokers):
    s = sidecar("--target", f"events={brokers['BROKERSIDE_AMQP_URL']}",
                "--targets.events.subscriber_connections=1")
    name = f"shared.{uuid.uuid4().hex[:8]}"
    with s.channel() as ch:
        stub = pb_grpc.BrokerStub(ch)
        declare(stub, name, auto_delete=False)
        one, five = Stream(stub, "events", [name], credit=1), Stream(stub, "events", [name], credit=5)
        try:
            assert one.subscribed.wait(10) and five.subscribed.wait(10)
            for i in range(20):
                publish(stub, name, f"m{i}".encode())
            # Competing consumers on one connection, each held to its own credit.
            assert wait_for(lambda: len(one.deliveries) == 1 and len(five.deliveries) == 5)
            # A stream on a queue that does not exist: its channel is closed by
            # the broker (404), the connection and the other streams go on.
            missing = Stream(stub, "events", [f"{name}.missing"])
            assert wait_for(lambda: missing.error is not None)
            assert missing.error.code() == grpc.StatusCode.NOT_FOUND, missing.error
            assert "404" in missing.error.details()
            one.ack([d.delivery_id for d in one.deliveries])
            assert wait_for(lambda: len(one.deliveries) == 2)
            five.ack([d.delivery_id for d in five.deliveries])
            assert wait_for(lambda: len(five.deliveries) == 10)
            _, metrics = http_get(s.admin_port, "/metrics")
            assert 'brokerside_subscriber_connections{target="events"} 1\n' in metrics
        finally:
            one.close()
            five.close()
        assert one.error is None and five.error is None
    # Everything not acked went back to the queue: 20 - 1 - 5 acked.
    connection = pika.BlockingConnection(pika.URLParameters(brokers["BROKERSIDE_AMQP_URL"]))
    try:
        channel = connection.channel()
        assert wait_for(lambda: channel.queue_declare(name, passive=True).method.message_count == 14)
        channel.queue_delete(name)
    finally:
        connection.close()


def test_streams_beyond_the_limit_are_refused_naming_it(sidecar, brokers):
    s = sidecar("--target", f"events={brokers['BROKERSIDE_AMQP_URL']}",
                "--targets.events.subscriber_connections=1", "--targets.events.channels_per_connection=2")
    name = f"shared.{uuid.uuid4().hex[:8]}"
    with s.channel() as ch:
        stub = pb_grpc.BrokerStub(ch)
        declare(stub, name)
        a, b = Stream(stub, "events", [name]), Stream(stub, "events", [name])
        assert a.subscribed.wait(10) and b.subscribed.wait(10)
        c = Stream(stub, "events", [name])
        assert wait_for(lambda: c.error is not None)
        assert c.error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert c.error.details() == ("target 'events' carries 2 Recv streams, its most "
                                     "(targets.events.subscriber_connections x channels_per_connection)")
        a.close()
        d = Stream(stub, "events", [name])
        try:
            assert d.subscribed.wait(10)
            publish(stub, name, b"after")
            assert wait_for(lambda: len(b.deliveries) + len(d.deliveries) == 1)
        finally:
            b.close()
            d.close()
        assert a.error is None and b.error is None and d.error is None
