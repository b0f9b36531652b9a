"""Recv on a JetStream target (pull consumers) against nats-server with
JetStream (started by scripts/brokers.sh): acks, naks (redelivered at once,
flagged), terms, in-progress notes, the credit as the bound on what is
outstanding, a durable consumer shared by two streams, what a stopped stream
left unacked redelivered to the next, and refusals with their reasons. Also
a slow core Recv client: drops counted and announced, the server never
cutting the connection as a slow consumer."""

import queue
import threading
import time
import uuid

import grpc
import pytest

from brokerside.v1 import brokerside_pb2 as pb
from brokerside.v1 import brokerside_pb2_grpc as pb_grpc
from conftest import wait_for


@pytest.fixture
def nats_url(brokers):
    return brokers["BROKERSIDE_NATS_URL"]


@pytest.fixture
def js(sidecar, nats_url):
    """A sidecar with a JetStream target "js" and a core target "core", and a
    stream of its own: (broker stub, stream name, subject prefix)."""
    s = sidecar("--target", f"js={nats_url}", "--targets.js.jetstream=true", "--target", f"core={nats_url}")
    stream = f"BSR{uuid.uuid4().hex[:8].upper()}"
    prefix = f"jsr.{stream.lower()}"
    with s.channel() as channel:
        broker = pb_grpc.BrokerStub(channel)
        api(broker, f"STREAM.CREATE.{stream}",
            '{"name": "' + stream + '", "subjects": ["' + prefix + '.>"], "storage": "memory"}')
        yield broker, stream, prefix
        api(broker, f"STREAM.DELETE.{stream}")


def api(broker, *args):
    return broker.Send(pb.SendRequest(target="js", command=pb.Command(args=[a.encode() for a in args])),
                       timeout=10).reply


def value_map(value):
    return {e.key.text: e.value for e in value.map.entries}


def publish(broker, subject, body):
    return broker.Send(pb.SendRequest(target="js", publish=pb.Publish(
        destination=subject, message=pb.Message(body=body, headers={"K": pb.Value(text="v")}))),
        timeout=10).published


class Consumer:
    """A Recv stream whose requests the test sends as it goes."""

    def __init__(self, broker, sources, group="", credit=100, target="js"):
        self.requests = queue.Queue()
        self.requests.put(pb.RecvRequest(subscribe=pb.Subscribe(
            target=target, sources=sources, group=group, credit=credit)))
        self.deliveries = []
        self.dropped = []
        self.error = None
        self.subscribed = threading.Event()
        self.stream = broker.Recv(iter(self.requests.get, None), timeout=60)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        try:
            for response in self.stream:
                kind = response.WhichOneof("kind")
                if kind == "subscribed":
                    self.subscribed.set()
                elif kind == "delivery":
                    self.deliveries.append(response.delivery)
                elif kind == "dropped":
                    self.dropped.append(response.dropped)
        except grpc.RpcError as e:
            self.error = e

    def ack(self, *deliveries, in_progress=False):
        self.requests.put(pb.RecvRequest(ack=pb.Ack(
            delivery_ids=[d.delivery_id for d in deliveries], in_progress=in_progress)))

    def nack(self, *deliveries, requeue, delay_ms=0):
        nack = pb.Nack(delivery_ids=[d.delivery_id for d in deliveries], requeue=requeue)
        if delay_ms:
            nack.delay.FromMilliseconds(delay_ms)
        self.requests.put(pb.RecvRequest(nack=nack))

    def close(self):
        self.requests.put(None)  # half-close: the stream ends well
        self.thread.join(10)


def consumer_info(broker, stream, name):
    return value_map(api(broker, f"CONSUMER.INFO.{stream}.{name}"))


def test_acks_naks_and_terms_settle_at_the_broker_and_a_nak_is_redelivered_flagged(js):
    broker, stream, prefix = js
    for i in range(4):
        assert publish(broker, f"{prefix}.a", f"m{i}".encode()).offset == i + 1
    c = Consumer(broker, [f"{prefix}.a"], group="settle")
    try:
        assert c.subscribed.wait(10)
        assert wait_for(lambda: len(c.deliveries) == 4), c.deliveries
        got = list(c.deliveries)
        assert [d.message.body for d in got] == [b"m0", b"m1", b"m2", b"m3"]
        assert [d.offset for d in got] == [1, 2, 3, 4]
        assert all(d.source == f"{prefix}.a" and not d.redelivered for d in got)
        assert all(d.message.headers["K"].text == "v" and not d.message.reply_to for d in got)
        c.ack(got[0])
        c.nack(got[1], requeue=True)  # -NAK: again, now
        c.nack(got[2], requeue=False)  # +TERM: never again
        c.ack(got[3], in_progress=True)  # +WPI: still outstanding
        assert wait_for(lambda: len(c.deliveries) == 5), c.deliveries
        again = c.deliveries[4]
        assert (again.message.body, again.offset, again.redelivered) == (b"m1", 2, True)
        assert again.delivery_id not in [d.delivery_id for d in got]
        info = consumer_info(broker, stream, "settle")
        assert info["num_ack_pending"].integer == 2  # m3 in progress, m1 redelivered
        assert info["num_redelivered"].integer == 1
        c.ack(got[3], again)
        assert wait_for(lambda: consumer_info(broker, stream, "settle")["num_ack_pending"].integer == 0)
        time.sleep(0.3)
        assert len(c.deliveries) == 5  # the termed one never came back
        # Settling what is settled already is the client's mistake: the stream ends with why.
        c.ack(got[0])
        assert wait_for(lambda: c.error is not None)
        assert c.error.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "already settled" in c.error.details()
    finally:
        c.close()


def test_a_nak_with_a_delay_is_redelivered_no_sooner_than_the_delay(js):
    broker, stream, prefix = js
    assert publish(broker, f"{prefix}.d", b"later").offset == 1
    c = Consumer(broker, [f"{prefix}.d"], group="delayed")
    try:
        assert c.subscribed.wait(10)
        assert wait_for(lambda: len(c.deliveries) == 1), c.deliveries
        nacked_at = time.monotonic()
        c.nack(c.deliveries[0], requeue=True, delay_ms=1500)
        # The broker counts it pending redelivery, and the credit is free
        # again, yet it does not come back before its delay.
        assert wait_for(lambda: len(c.deliveries) == 2, timeout=10), c.deliveries
        waited = time.monotonic() - nacked_at
        assert waited >= 1.4, f"redelivered after {waited:.2f} s, before the 1.5 s delay"
        again = c.deliveries[1]
        assert (again.message.body, again.offset, again.redelivered) == (b"later", 1, True)
        c.ack(again)
        assert wait_for(lambda: consumer_info(broker, stream, "delayed")["num_ack_pending"].integer == 0)
        # A delay on a nack that drops, or a negative one, is the client's mistake.
        c.nack(again, requeue=False, delay_ms=100)
        assert wait_for(lambda: c.error is not None)
        assert c.error.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "Nack.delay needs requeue" in c.error.details()
    finally:
        c.close()


def test_the_credit_bounds_what_is_outstanding_and_a_grant_lets_more_come(js):
    broker, stream, prefix = js
    for i in range(10):
        publish(broker, f"{prefix}.credit", str(i).encode())
    c = Consumer(broker, [f"{prefix}.credit"], credit=3)
    try:
        assert wait_for(lambda: len(c.deliveries) == 3)
        time.sleep(0.5)
        assert len(c.deliveries) == 3  # no more than the credit outstanding
        c.ack(*c.deliveries[:2])
        assert wait_for(lambda: len(c.deliveries) == 5)
        time.sleep(0.3)
        assert len(c.deliveries) == 5
        c.requests.put(pb.RecvRequest(credit=pb.Credit(credit=10)))
        c.ack(*c.deliveries[2:5])
        assert wait_for(lambda: len(c.deliveries) == 10), len(c.deliveries)
        assert [d.message.body for d in c.deliveries] == [str(i).encode() for i in range(10)]
    finally:
        c.close()


def test_a_durable_consumer_spreads_over_two_streams_and_what_one_left_unacked_goes_to_the_other(js):
    broker, stream, prefix = js
    subject = f"{prefix}.work"
    first, second = Consumer(broker, [subject], group="workers", credit=5), None
    try:
        assert first.subscribed.wait(10)
        second = Consumer(broker, [subject], group="workers", credit=5)
        assert second.subscribed.wait(10)
        for i in range(8):
            publish(broker, subject, str(i).encode())
        both = lambda: first.deliveries + second.deliveries  # noqa: E731
        assert wait_for(lambda: len(both()) == 8), len(both())
        assert sorted(d.message.body for d in both()) == sorted(str(i).encode() for i in range(8))
        assert first.deliveries and second.deliveries, (len(first.deliveries), len(second.deliveries))
        left = [d.message.body for d in first.deliveries]
        second.ack(*second.deliveries)
        first.close()  # ends with its deliveries unacked: they go back at once
        assert wait_for(lambda: len(second.deliveries) == 8), len(second.deliveries)
        redelivered = second.deliveries[-len(left):]
        assert sorted(d.message.body for d in redelivered) == sorted(left)
        assert all(d.redelivered for d in redelivered)
        second.ack(*redelivered)
        assert wait_for(lambda: consumer_info(broker, stream, "workers")["num_ack_pending"].integer == 0)
    finally:
        first.close()
        if second:
            second.close()


def test_an_ephemeral_consumer_is_deleted_when_its_stream_ends(js):
    broker, stream, prefix = js
    c = Consumer(broker, [f"{prefix}.x", f"{prefix}.y"])
    assert c.subscribed.wait(10)
    publish(broker, f"{prefix}.y", b"y")
    publish(broker, f"{prefix}.x", b"x")
    assert wait_for(lambda: len(c.deliveries) == 2)
    assert sorted(d.source for d in c.deliveries) == [f"{prefix}.x", f"{prefix}.y"]
    assert value_map(api(broker, f"STREAM.INFO.{stream}"))["state"].map.entries
    consumers = lambda: value_map(value_map(api(broker, f"STREAM.INFO.{stream}"))["state"])[  # noqa: E731
        "consumer_count"].integer
    assert consumers() == 2
    c.ack(*c.deliveries)
    c.close()
    assert wait_for(lambda: consumers() == 0)


def test_streams_ended_while_their_consumers_are_made_leave_none_behind(js):
    # A stream that ends between its STREAM.NAMES / CONSUMER.CREATE requests
    # and their answers: what is created after its stop is deleted, not left
    # until inactive_threshold, and its inbox never subscribed.
    broker, stream, prefix = js
    consumers = lambda: value_map(value_map(api(broker, f"STREAM.INFO.{stream}"))["state"])[  # noqa: E731
        "consumer_count"].integer
    kept = Consumer(broker, [f"{prefix}.kept"])
    assert kept.subscribed.wait(10)  # the shared subscriber connection is up
    assert consumers() == 1
    hold = threading.Event()

    def held(first):
        yield first
        hold.wait(60)

    subscribe = pb.RecvRequest(subscribe=pb.Subscribe(target="js", sources=[f"{prefix}.churn"]))
    for i in range(60):
        call = broker.Recv(held(subscribe), timeout=30)
        time.sleep((i % 6) * 0.0005)  # at, and just after, the subscribe
        call.cancel()
    # Once the sidecar holds only the kept stream, a second more covers the
    # answers to setup requests still on their way (each one round trip on
    # loopback): a consumer made after its stream's stop would be there.
    assert wait_for(lambda: len(broker.Stats(pb.StatsRequest(target="js"), timeout=10).targets[0].subscriptions) == 1)
    time.sleep(1)
    settled = wait_for(lambda: consumers() == 1, timeout=15)
    left = consumers()
    hold.set()
    kept.close()
    print(f"\n60 JetStream Recv streams cancelled right after subscribing; consumers on the stream then: {left} "
          "(the kept stream's: 1)")
    assert settled, left


def test_bad_jetstream_subscriptions_are_refused_with_their_reason(js):
    broker, stream, prefix = js
    for subscribe, code, reason in (
            (pb.Subscribe(target="js", sources=["nowhere.x"]), grpc.StatusCode.NOT_FOUND,
             "no JetStream stream takes subject 'nowhere.x'"),
            (pb.Subscribe(target="js", sources=[f"{prefix}.a", f"{prefix}.b"], group="d"),
             grpc.StatusCode.INVALID_ARGUMENT, "filters one subject"),
            (pb.Subscribe(target="js", sources=[f"{prefix}.a"], group="a.b"),
             grpc.StatusCode.INVALID_ARGUMENT, "not a JetStream durable name")):
        c = Consumer(broker, list(subscribe.sources), group=subscribe.group)
        assert wait_for(lambda: c.error is not None), subscribe
        assert not c.subscribed.is_set()
        assert c.error.code() == code, c.error
        assert reason in c.error.details(), c.error.details()
        c.close()


def test_a_slow_core_client_loses_what_overflows_its_credit_counted_and_the_connection_stays(js, nats_url):
    broker, _, _ = js
    topic = f"slow.{uuid.uuid4().hex[:8]}"
    received = []
    dropped = []
    subscribed = threading.Event()
    go = threading.Event()
    done = threading.Event()

    def requests():
        yield pb.RecvRequest(subscribe=pb.Subscribe(target="core", sources=[topic], credit=5))
        done.wait(30)

    stream = broker.Recv(requests(), timeout=60)

    def read():
        try:
            for response in stream:
                kind = response.WhichOneof("kind")
                if kind == "subscribed":
                    subscribed.set()
                    go.wait(30)  # the app is busy: it reads nothing for a while
                elif kind == "delivery":
                    received.append(response.delivery)
                elif kind == "dropped":
                    dropped.append(response.dropped)
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.CANCELLED  # by the test, at its end

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    assert subscribed.wait(10)
    body = b"x" * 1000
    sent = 3000  # 3 MB: past gRPC's windows, so the sidecar's buffer fills
    for i in range(0, sent, 100):
        answers = list(broker.SendStream(iter(pb.SendStreamRequest(id=j, send=pb.SendRequest(
            target="core", publish=pb.Publish(destination=topic, message=pb.Message(body=body))))
            for j in range(i, i + 100)), timeout=30))
        assert len(answers) == 100
    go.set()
    assert wait_for(lambda: dropped and dropped[-1].total + len(received) >= sent, 20), (
        len(received), dropped[-1:] if dropped else None)
    assert dropped[-1].total > 0 and len(received) < sent
    stats = broker.Stats(pb.StatsRequest(target="core"), timeout=5).targets[0]
    assert stats.counters.deliveries_dropped == dropped[-1].total
    assert stats.counters.disconnects == 0  # never cut as a slow consumer
    done.set()
    stream.cancel()
    reader.join(5)
