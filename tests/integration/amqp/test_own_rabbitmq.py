"""brokerside against RabbitMQs of the test's own (own epmd, ports, data and
configuration; killed by PID): one killed -9 while apps publish, then
restarted — every publish that returned OK is in the queue afterwards, every
other one got an error status (UNAVAILABLE, ABORTED or DEADLINE_EXCEEDED)
within its deadline, and publishing works again once the broker is back; one
with a TLS listener and a certificate made by the test, for amqps://; one
put under a memory alarm with rabbitmqctl (connection.blocked)."""

import threading
import time

import grpc
import pika
import pytest

from brokerside.v1 import brokerside_pb2 as pb
from brokerside.v1 import brokerside_pb2_grpc as pb_grpc
from own_brokers import OwnRabbit


@pytest.fixture
def rabbit(tmp_path):
    r = OwnRabbit(tmp_path)
    yield r
    r.close()


@pytest.fixture
def tls_rabbit(tmp_path):
    r = OwnRabbit(tmp_path, tls=True)
    yield r
    r.close()


def test_amqps_with_a_verified_certificate(sidecar, tls_rabbit):
    url = f"amqps://guest:guest@127.0.0.1:{tls_rabbit.tls_port}/%2f"
    s = sidecar("--target", f"events={url}", f"--targets.events.tls.ca_file={tls_rabbit.dir / 'ca.pem'}",
                "--target", f"unverified={url}", "--targets.unverified.retry.max_retries=0")
    with s.channel() as channel:
        broker = pb_grpc.BrokerStub(channel)
        declare = pb.Command(args=[b"queue.declare", b"tls.q"])
        broker.Send(pb.SendRequest(target="events", command=declare), timeout=5)
        message = pb.Message(body=b"over TLS")
        broker.Send(pb.SendRequest(target="events", publish=pb.Publish(routing_key="tls.q", message=message)),
                    timeout=5)
        # Without the CA the system store does not trust the test's certificate.
        with pytest.raises(grpc.RpcError) as e:
            broker.Send(pb.SendRequest(target="unverified", command=declare), timeout=5)
        assert e.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "certificate verify failed" in e.value.details()
    # A plain client on the plain port sees what went over TLS.
    connection = pika.BlockingConnection(pika.URLParameters(tls_rabbit.url))
    method, _, body = connection.channel().basic_get("tls.q", auto_ack=True)
    connection.close()
    assert method is not None and body == b"over TLS"


def test_publishes_that_returned_ok_survive_a_kill_9(sidecar, rabbit):
    s = sidecar("--target", f"events={rabbit.url}")
    queue = "durable.orders"
    with s.channel() as channel:
        broker = pb_grpc.BrokerStub(channel)
        declare = pb.Command(args=[b"queue.declare", queue.encode()], options={"durable": pb.Value(boolean=True)})
        broker.Send(pb.SendRequest(target="events", command=declare), timeout=5)
        rabbit.sync_metadata()

        outcomes = {}  # message id -> (status code, seconds taken)
        lock = threading.Lock()
        stop = threading.Event()
        deadline = 3.0

        def publisher(worker):
            i = 0
            while not stop.is_set():
                body = f"{worker}-{i}".encode()
                message = pb.Message(body=body, delivery_mode=pb.DELIVERY_MODE_PERSISTENT)
                request = pb.SendRequest(target="events", publish=pb.Publish(routing_key=queue, message=message))
                started = time.monotonic()
                try:
                    broker.Send(request, timeout=deadline)
                    code = grpc.StatusCode.OK
                except grpc.RpcError as e:
                    code = e.code()
                with lock:
                    outcomes[body] = (code, time.monotonic() - started)
                i += 1
                if code != grpc.StatusCode.OK:
                    time.sleep(0.05)

        workers = [threading.Thread(target=publisher, args=(w,)) for w in range(4)]
        for w in workers:
            w.start()
        time.sleep(1.0)
        rabbit.kill9()
        killed_at = time.monotonic()
        rabbit.start()
        back_at = time.monotonic()
        # Publishing works again once the broker is back (bounded: 20 s).
        def oks():
            with lock:
                return sum(1 for code, _ in outcomes.values() if code == grpc.StatusCode.OK)

        base = oks()
        while time.monotonic() < back_at + 20 and oks() - base < 50:
            time.sleep(0.1)
        ok_after = oks() - base
        stop.set()
        for w in workers:
            w.join(timeout=deadline + 5)

    # What the broker holds now: every publish that returned OK, none twice
    # (a failed one may be there too: its outcome was unknown or refused).
    connection = pika.BlockingConnection(pika.URLParameters(rabbit.url))
    channel = connection.channel()
    stored = []
    while True:
        method, _, body = channel.basic_get(queue, auto_ack=True)
        if method is None:
            break
        stored.append(body)
    connection.close()

    codes = {}
    for code, _ in outcomes.values():
        codes[code.name] = codes.get(code.name, 0) + 1
    acknowledged = {body for body, (code, _) in outcomes.items() if code == grpc.StatusCode.OK}
    slowest = max(took for _, took in outcomes.values())
    print(f"\npublishes: {len(outcomes)}, by status: {codes}; in the queue afterwards: {len(stored)}; "
          f"broker down {back_at - killed_at:.1f} s; slowest call {slowest:.2f} s (deadline {deadline} s)")
    assert ok_after >= 50, "publishing did not resume after the restart"
    missing = acknowledged - set(stored)
    assert not missing, f"{len(missing)} publishes returned OK and are gone, e.g. {sorted(missing)[:5]}"
    assert len(stored) == len(set(stored)), "a message is in the queue twice"
    allowed = {"OK", "UNAVAILABLE", "ABORTED", "DEADLINE_EXCEEDED"}
    assert set(codes) <= allowed, codes
    assert codes.get("UNAVAILABLE", 0) + codes.get("ABORTED", 0) + codes.get("DEADLINE_EXCEEDED", 0) > 0, \
        "the kill went unnoticed: nothing failed"
    assert slowest < deadline + 0.5, f"a call outlived its deadline: {slowest:.2f} s"


def test_a_resource_alarm_pauses_publishing_until_it_clears(sidecar, rabbit):
    s = sidecar("--target", f"events={rabbit.url}", "--targets.events.pool.max_connections=1")
    with s.channel() as channel:
        broker = pb_grpc.BrokerStub(channel)
        broker.Send(pb.SendRequest(target="events", command=pb.Command(args=[b"queue.declare", b"alarm.q"])),
                    timeout=5)

        def publish(body, timeout):
            message = pb.Message(body=body)
            request = pb.SendRequest(target="events", publish=pb.Publish(routing_key="alarm.q", message=message))
            try:
                broker.Send(request, timeout=timeout)
                return grpc.StatusCode.OK
            except grpc.RpcError as e:
                return e.code()

        assert publish(b"before", 5) == grpc.StatusCode.OK
        rabbit.ctl("set_vm_memory_high_watermark", "0.000001")  # a memory alarm at once
        # The broker stops reading what this connection publishes and says so
        # (connection.blocked): the publish in flight waits for its deadline ...
        assert publish(b"while blocked", 1) == grpc.StatusCode.DEADLINE_EXCEEDED
        stats = broker.Stats(pb.StatsRequest(target="events"), timeout=5).targets[0]
        assert stats.counters.write_pauses >= 1
        # ... and the next is not even written: the pool holds it back.
        assert publish(b"held back", 1) == grpc.StatusCode.DEADLINE_EXCEEDED
        rabbit.ctl("set_vm_memory_high_watermark", "0.4")
        assert publish(b"after", 10) == grpc.StatusCode.OK

    connection = pika.BlockingConnection(pika.URLParameters(rabbit.url))
    ch = connection.channel()
    bodies = []
    while (got := ch.basic_get("alarm.q", auto_ack=True))[0] is not None:
        bodies.append(got[2])
    connection.close()
    # The blocked one went out before the alarm was known and was queued once
    # the broker read again; the held-back one never left the sidecar.
    assert bodies == [b"before", b"while blocked", b"after"]


def test_a_consumer_survives_a_broker_restart_and_unacked_messages_come_back(sidecar, rabbit):
    # Two streams on one shared consumer connection: both come back.
    s = sidecar("--target", f"events={rabbit.url}", "--targets.events.subscriber_connections=1")
    queues = ["restart.q", "restart.q2"]
    with s.channel() as channel:
        broker = pb_grpc.BrokerStub(channel)
        for q in queues:
            declare = pb.Command(args=[b"queue.declare", q.encode()], options={"durable": pb.Value(boolean=True)})
            broker.Send(pb.SendRequest(target="events", command=declare), timeout=5)
        rabbit.sync_metadata()
        for q in queues:
            message = pb.Message(body=f"keep {q}".encode(), delivery_mode=pb.DELIVERY_MODE_PERSISTENT)
            broker.Send(pb.SendRequest(target="events", publish=pb.Publish(routing_key=q, message=message)),
                        timeout=5)
        stop = threading.Event()
        acks = {q: [] for q in queues}

        def requests(q):
            yield pb.RecvRequest(subscribe=pb.Subscribe(target="events", sources=[q], credit=5))
            while not stop.wait(0.05):
                while acks[q]:
                    yield pb.RecvRequest(ack=pb.Ack(delivery_ids=[acks[q].pop()]))

        streams = {q: broker.Recv(requests(q), timeout=90) for q in queues}
        firsts = {}
        for q, stream in streams.items():
            assert next(stream).WhichOneof("kind") == "subscribed"
            firsts[q] = next(stream).delivery
            assert (firsts[q].message.body, firsts[q].redelivered) == (f"keep {q}".encode(), False)
        # Not acked. The broker dies and comes back: the streams go on, and
        # each message comes again, marked redelivered, with a new id.
        rabbit.kill9()
        rabbit.start()
        for q, stream in streams.items():
            again = next(stream).delivery
            assert (again.message.body, again.redelivered) == (f"keep {q}".encode(), True)
            assert again.delivery_id != firsts[q].delivery_id
            acks[q].append(again.delivery_id)
            acks[q].append(firsts[q].delivery_id)  # from the lost connection: ignored, not an error
        time.sleep(0.5)
        stop.set()
        for stream in streams.values():
            assert list(stream) == []  # ended by the half-close, cleanly
    connection = pika.BlockingConnection(pika.URLParameters(rabbit.url))
    for q in queues:
        method, _, _ = connection.channel().basic_get(q, auto_ack=True)
        assert method is None, f"the acked message is still queued in {q}"
    connection.close()



def test_recv_streams_ended_while_their_channel_opens_leave_no_channel_open(sidecar, rabbit):
    # A stream that ends between its consumer's channel.open and the broker's
    # open-ok: the channel is closed once it opens, not left on the shared
    # consumer connection for good (where a client restarting in a loop
    # would use up its channel_max).
    s = sidecar("--target", f"events={rabbit.url}", "--targets.events.subscriber_connections=1")

    def channels():
        """Channels open at the broker: by their consumer counts."""
        return sorted(int(line) for line in rabbit.ctl("list_channels", "-q", "--no-table-headers",
                                                       "consumer_count").split())

    with s.channel() as channel:
        broker = pb_grpc.BrokerStub(channel)
        broker.Send(pb.SendRequest(target="events", command=pb.Command(args=[b"queue.declare", b"churn.q"])),
                    timeout=5)
        subscribe = pb.RecvRequest(subscribe=pb.Subscribe(target="events", sources=["churn.q"]))
        hold = threading.Event()

        def held(first):
            yield first
            hold.wait(60)

        # One stream held: the consumer connection stays up, so each new
        # stream's channel.open goes out as soon as it subscribes.
        kept = broker.Recv(held(subscribe), timeout=60)
        assert next(kept).HasField("subscribed")
        before = channels()
        assert before.count(1) == 1, before  # the kept stream's consumer
        ended = 0
        for i in range(120):
            call = broker.Recv(held(subscribe), timeout=30)
            time.sleep((i % 6) * 0.0005)  # at, and just after, the subscribe
            call.cancel()
            ended += 1
        deadline = time.monotonic() + 15
        while (after := channels()) != before and time.monotonic() < deadline:
            time.sleep(0.5)
        hold.set()
        kept.cancel()
    print(f"\n{ended} Recv streams cancelled right after subscribing; channels at the broker by consumer "
          f"count, before {before} and after {after}")
    assert after == before
