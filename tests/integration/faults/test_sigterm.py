"""R5: SIGTERM under load. Sends in flight when the signal comes finish OK
(steady Redis and AMQP load from concurrent clients, every publish that
returned OK in its queue afterwards, and BLPOPs on leases that block for
2 s); calls started after it get UNAVAILABLE; an AMQP Recv stream that
holds deliveries its client has not acked ends, and those deliveries go
back to the queue (marked redelivered; none lost, none dead-lettered: the
queue has a dead-letter exchange whose queue stays empty) while the acked
ones stay gone; the process exits 0 within server.shutdown_grace.

(The drain's other parts, health NOT_SERVING and an open SendStream going
on through the drain delay, are in sidecar/test_process.py.) A call that
reaches gRPC at the very moment it stops accepting, the end of the drain
delay, can get CANCELLED from gRPC core instead (grpc#41785): allowed there
only."""

import queue
import threading
import time
import uuid

import grpc
import pika

from brokerside.v1 import brokerside_pb2 as pb
from brokerside.v1 import brokerside_pb2_grpc as pb_grpc
from faults_support import Load, by_code, send

GRACE = 10.0  # the default server.shutdown_grace
DRAIN_DELAY = 1.0
BLOCK = 2  # seconds each leased BLPOP blocks: in flight across the signal
MESSAGES = 20
CREDIT = 10
ACKED = 4
# A call this close to the signal may have reached the sidecar before or
# after it: OK and UNAVAILABLE are both right.
RACE = 0.05


def test_sigterm_under_load_finishes_in_flight_work_and_requeues_unacked_deliveries(sidecar, brokers):
    amqp_url, redis_url = brokers["BROKERSIDE_AMQP_URL"], brokers["BROKERSIDE_REDIS_URL"]
    tag = uuid.uuid4().hex[:8]
    work_q, dead_q, dlx = f"r5.work.{tag}", f"r5.dead.{tag}", f"r5.dlx.{tag}"
    publish_q = f"r5.published.{tag}"
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    ch = connection.channel()
    ch.exchange_declare(dlx, "fanout", auto_delete=False)
    ch.queue_declare(dead_q)
    ch.queue_bind(dead_q, dlx)
    ch.queue_declare(work_q, arguments={"x-dead-letter-exchange": dlx})
    ch.queue_declare(publish_q, durable=True)
    for i in range(MESSAGES):
        ch.basic_publish("", work_q, f"m{i}".encode())
    connection.close()

    s = sidecar("--target", f"events={amqp_url}", "--target", f"cache={redis_url}",
                f"--shutdown-grace={GRACE:g}s", f"--server.drain_delay={DRAIN_DELAY:g}s")
    channel = s.channel()
    broker = pb_grpc.BrokerStub(channel)

    # The consumer: takes CREDIT deliveries, acks the first ACKED, keeps the rest.
    acks = queue.Queue()

    def requests():
        yield pb.RecvRequest(subscribe=pb.Subscribe(target="events", sources=[work_q], credit=CREDIT))
        while (ack := acks.get()) is not None:
            yield ack

    stream = broker.Recv(requests(), timeout=60)
    assert next(stream).WhichOneof("kind") == "subscribed"
    held = [next(stream).delivery for _ in range(CREDIT)]
    acked = held[:ACKED]
    acks.put(pb.RecvRequest(ack=pb.Ack(delivery_ids=[d.delivery_id for d in acked])))
    recv_end = {}

    def drain_stream():
        # Deliveries the credit lets through after the acks: held, not acked.
        try:
            for r in stream:
                if r.HasField("delivery"):
                    held.append(r.delivery)
            recv_end["code"] = "OK"
        except grpc.RpcError as e:
            recv_end["code"] = e.code().name
            recv_end["details"] = e.details()
        recv_end["at"] = time.monotonic()

    stream_reader = threading.Thread(target=drain_stream, daemon=True)
    stream_reader.start()

    # Steady load from 6 clients: SETs of unique keys and GETs on Redis, and
    # persistent publishes (confirmed once on disk: often in flight).
    def call(stub, worker, i, deadline):
        if worker >= 4:
            body = f"{worker}-{i}".encode()
            message = pb.Message(body=body, delivery_mode=pb.DELIVERY_MODE_PERSISTENT)
            request = pb.SendRequest(target="events", publish=pb.Publish(routing_key=publish_q, message=message))
            return body, send(stub, request, deadline)
        args = [b"SET", f"r5:{tag}:{worker}:{i}".encode(), b"v"] if i % 2 else [b"GET", b"r5:none"]
        return None, send(stub, pb.SendRequest(target="cache", command=pb.Command(args=args)), deadline)

    load = Load(s.address, call, workers=6, deadline=5.0).start()

    # Long Sends in flight across the signal: BLPOP on leases.
    blocked = {}

    def blpop(n):
        lease = broker.Acquire(pb.AcquireRequest(target="cache"), timeout=5).lease
        started = time.monotonic()
        request = pb.SendRequest(target="cache", lease=lease,
                                 command=pb.Command(args=[b"BLPOP", f"r5:{tag}:empty".encode(), str(BLOCK).encode()]))
        try:
            reply = broker.Send(request, timeout=BLOCK + 5).reply
            blocked[n] = ("OK", reply.WhichOneof("kind"), started, time.monotonic())
        except grpc.RpcError as e:
            blocked[n] = (e.code().name, None, started, time.monotonic())

    time.sleep(1.0)
    blockers = [threading.Thread(target=blpop, args=(n,)) for n in range(2)]
    for t in blockers:
        t.start()
    time.sleep(0.5)  # the acks are settled, the BLPOPs are blocking
    signalled = time.monotonic()
    s.terminate()
    code = s.wait(timeout=GRACE + 10)
    exited = time.monotonic()
    time.sleep(0.2)
    load.stop()
    for t in blockers:
        t.join(timeout=10)
    acks.put(None)
    stream_reader.join(timeout=10)
    channel.close()

    # The queue afterwards: everything not acked, the held ones redelivered.
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    ch = connection.channel()
    after = {}
    while (got := ch.basic_get(work_q, auto_ack=True))[0] is not None:
        after[got[2].decode()] = got[0].redelivered
    dead = ch.queue_declare(dead_q, passive=True).method.message_count
    published = set()
    while (got := ch.basic_get(publish_q, auto_ack=True))[0] is not None:
        published.add(got[2])
    for q in (work_q, dead_q, publish_q):
        ch.queue_delete(q)
    ch.exchange_delete(dlx)
    connection.close()

    outcomes = load.all()
    before = [o for o in outcomes if o.started < signalled - RACE]
    later = [o for o in outcomes if o.started > signalled + RACE]
    in_flight = [o for o in before if o.ended > signalled]
    held_bodies = {d.message.body.decode() for d in held}
    acked_bodies = {d.message.body.decode() for d in acked}
    unacked = held_bodies - acked_bodies
    lost = [o.key for o in outcomes if o.key is not None and o.code == "OK" and o.key not in published]
    print(f"\nSIGTERM: exit {code} after {exited - signalled:.2f} s (grace {GRACE:g} s, drain delay {DRAIN_DELAY:g} s); "
          f"load calls started before it {by_code(before)} ({len(in_flight)} still in flight at the signal), "
          f"after it {by_code(later)}; leased BLPOPs {[(b[0], b[1], round(b[3] - signalled, 2)) for b in blocked.values()]}; "
          f"Recv with {len(held)} deliveries, {len(acked)} acked, ended {recv_end.get('code')} after {recv_end.get('at', exited) - signalled:.2f} s "
          f"({recv_end.get('details', '')!r}); queue afterwards {len(after)} messages "
          f"({sum(after.values())} redelivered), acked ones back {len(acked_bodies & set(after))}, "
          f"dead-lettered {dead}; publishes OK but not in their queue {len(lost)}; after the signal, not "
          f"UNAVAILABLE (s after it, code): "
          f"{[(round(o.started - signalled, 3), o.code) for o in later if o.code != 'UNAVAILABLE']}")

    assert code == 0
    assert exited - signalled <= GRACE, f"exited {exited - signalled:.2f} s after SIGTERM"
    assert all(o.code == "OK" for o in before), by_code(before)
    # A call that reaches gRPC just as it stops accepting (the drain delay's
    # end) may be CANCELLED by gRPC core itself, not by brokerside:
    # grpc#41785 (fix proposed in grpc#41786).
    odd = [(round(o.started - signalled, 3), o.code) for o in later if o.code != "UNAVAILABLE"]
    assert later and all(code == "CANCELLED" and abs(at - DRAIN_DELAY) < 0.2 for at, code in odd), odd
    assert sorted(b[:2] for b in blocked.values()) == [("OK", "null")] * 2, blocked
    assert all(b[3] > signalled for b in blocked.values())
    assert recv_end.get("code") == "UNAVAILABLE", recv_end
    assert recv_end["at"] - signalled < 1.0, "the Recv stream was not ended by the drain"
    assert set(after) == {f"m{i}" for i in range(MESSAGES)} - acked_bodies, sorted(after)
    assert all(after[b] for b in unacked), "a held delivery came back without redelivered"
    assert dead == 0
    assert not lost, lost[:5]
