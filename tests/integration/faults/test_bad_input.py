"""R4: bad gRPC input, against one brokerside process and the shared brokers
(Redis target "cache", AMQP target "events"). Each kind of bad input gets
its own status code and text; after each the process is up and SERVING;
at the end nothing is leaked (Stats: no lease, nothing in flight or waiting,
no more connections than max) and SIGTERM makes it exit 0 with nothing from
the sanitizers in its stderr. scripts/test.sh runs this file against the
ASan+UBSan build too, where LeakSanitizer checks the exit.

The in-process tests check some of these cases in finer detail against fake
connections: sidecar/grpc_plumbing_test.cc (unknown target, empty argv, no
operation, oversized request, unknown lease) and amqp/amqp_e2e_test.cc (an
ack for an unknown delivery id). Here they go through the real binary to
real brokers, together with what only a process can show: clients that
vanish (kill -9) mid-stream and by the thousand."""

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from pathlib import Path

import grpc
import pytest
import redis
from grpc_health.v1 import health_pb2, health_pb2_grpc

import conftest
from brokerside.v1 import brokerside_pb2 as pb
from brokerside.v1 import brokerside_pb2_grpc as pb_grpc
from conftest import Sidecar

MAX_CONNECTIONS = 4
MAX_MESSAGE = 1 << 20
HERE = Path(__file__).resolve().parent
TAG = uuid.uuid4().hex[:8]
QUEUE = f"r4.q.{TAG}"


@pytest.fixture(scope="module")
def env():
    run_dir = Path(os.environ.get("BROKERSIDE_RUN_DIR", conftest.ROOT / ".run" / "brokers"))
    path = run_dir / "brokers.env"
    assert path.exists(), f"no {path}: start the brokers with scripts/brokers.sh start"
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


@pytest.fixture(scope="module")
def side(env, tmp_path_factory):
    s = Sidecar(["--target", f"cache={env['BROKERSIDE_REDIS_URL']}", "--target", f"events={env['BROKERSIDE_AMQP_URL']}",
                 f"--targets.cache.pool.max_connections={MAX_CONNECTIONS}",
                 f"--targets.events.pool.max_connections={MAX_CONNECTIONS}",
                 f"--server.max_message_bytes={MAX_MESSAGE}", "--shutdown-grace=10s"],
                tmp_path_factory.mktemp("r4"))
    s.channel_ = s.channel()
    s.stub = pb_grpc.BrokerStub(s.channel_)
    yield s
    s.channel_.close()
    s.close()


@pytest.fixture(autouse=True)
def still_serving(side):
    """After every case: the process is up and SERVING."""
    yield
    if getattr(side, "terminated", False):
        return
    assert side.proc.poll() is None, f"brokerside exited {side.proc.returncode}"
    with side.channel() as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=10)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING


def code_of(call, *args, **kwargs):
    """(code name, details) of a call expected to fail."""
    with pytest.raises(grpc.RpcError) as e:
        call(*args, **kwargs)
    return e.value.code().name, e.value.details()


def get(target="cache", lease=""):
    return pb.SendRequest(target=target, lease=lease, command=pb.Command(args=[b"GET", b"r4:k"]))


def amqp_queue(side, name=QUEUE):
    side.stub.Send(pb.SendRequest(target="events", command=pb.Command(args=[b"queue.declare", name.encode()])),
                   timeout=10)


def publish(side, queue, n):
    for i in range(n):
        message = pb.Message(body=f"m{i}".encode())
        side.stub.Send(pb.SendRequest(target="events", publish=pb.Publish(routing_key=queue, message=message)),
                       timeout=10)


def queue_count(side, queue):
    reply = side.stub.Send(pb.SendRequest(target="events", command=pb.Command(
        args=[b"queue.declare", queue.encode()], options={"passive": pb.Value(boolean=True)})), timeout=10).reply
    return next(e.value.integer for e in reply.map.entries if e.key.text == "message_count")


def recv_until_end(stub, messages, timeout=10):
    """Runs a Recv whose requests are `messages`, then waits; (code name,
    details, responses)."""
    def requests():
        yield from messages
        time.sleep(timeout)
    stream = stub.Recv(requests(), timeout=timeout)
    responses = []
    try:
        for r in stream:
            responses.append(r)
        return "OK", "", responses
    except grpc.RpcError as e:
        return e.code().name, e.details(), responses


def calls_ended(side):
    """gRPC calls the sidecar has finished, all methods and codes (/metrics)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{side.admin_port}/metrics", timeout=10) as r:
        return sum(int(float(line.rsplit(" ", 1)[1])) for line in r.read().decode().splitlines()
                   if line.startswith("brokerside_grpc_calls_total{"))


def test_unknown_target(side):
    expected = ("NOT_FOUND", "unknown target 'nope' (configured: cache, events)")
    assert code_of(side.stub.Send, get("nope"), timeout=10) == expected
    assert code_of(side.stub.Acquire, pb.AcquireRequest(target="nope"), timeout=10) == expected
    assert code_of(side.stub.Stats, pb.StatsRequest(target="nope"), timeout=10) == expected
    code, details, _ = recv_until_end(side.stub, [pb.RecvRequest(subscribe=pb.Subscribe(target="nope", sources=["x"]))])
    assert (code, details) == expected
    responses = list(side.stub.SendStream(iter([pb.SendStreamRequest(id=7, send=get("nope"))]), timeout=10))
    assert [(r.id, r.status.code, r.status.message) for r in responses] == [(7, 5, expected[1])]
    assert code_of(side.stub.Send, get(""), timeout=10)[0] == "INVALID_ARGUMENT"


def test_unknown_and_expired_leases(side):
    assert code_of(side.stub.Send, get(lease="cache/l-nope"), timeout=10) == \
        ("NOT_FOUND", "unknown lease 'cache/l-nope'")
    assert code_of(side.stub.Send, get(lease="nope/l-1"), timeout=10) == ("NOT_FOUND", "unknown lease 'nope/l-1'")
    assert code_of(side.stub.Send, get(lease="no-slash"), timeout=10)[0] == "NOT_FOUND"
    assert code_of(side.stub.Renew, pb.RenewRequest(lease="cache/l-nope"), timeout=10)[0] == "NOT_FOUND"
    assert code_of(side.stub.Release, pb.ReleaseRequest(lease="cache/l-nope"), timeout=10)[0] == "NOT_FOUND"

    # A lease of one target named on another.
    lease = side.stub.Acquire(pb.AcquireRequest(target="cache"), timeout=10).lease
    code, details = code_of(side.stub.Send, pb.SendRequest(target="events", lease=lease, command=pb.Command(
        args=[b"queue.declare", b"x"])), timeout=10)
    assert code == "INVALID_ARGUMENT" and "belongs to target 'cache'" in details
    side.stub.Release(pb.ReleaseRequest(lease=lease), timeout=10)

    # Expired: a 200 ms lease left alone is reclaimed; using it is FAILED_PRECONDITION.
    before = side.stub.Stats(pb.StatsRequest(target="cache"), timeout=10).targets[0].counters.leases_reclaimed
    ttl = pb.AcquireRequest(target="cache")
    ttl.ttl.FromMilliseconds(200)
    lease = side.stub.Acquire(ttl, timeout=10).lease
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        t = side.stub.Stats(pb.StatsRequest(target="cache"), timeout=10).targets[0]
        if t.counters.leases_reclaimed > before and not t.leases:
            break
        time.sleep(0.1)
    assert t.counters.leases_reclaimed == before + 1 and not t.leases
    expired = ("FAILED_PRECONDITION", f"lease '{lease}' expired; its connection was reclaimed")
    assert code_of(side.stub.Send, get(lease=lease), timeout=10) == expired
    assert code_of(side.stub.Renew, pb.RenewRequest(lease=lease), timeout=10) == expired
    assert code_of(side.stub.Release, pb.ReleaseRequest(lease=lease), timeout=10) == expired
    assert f"lease {lease.split('/')[1]}" in side.log() and "expired" in side.log()


def test_operations_the_protocol_cannot_do(side):
    cases = [
        (pb.SendRequest(target="cache", request=pb.Request(destination="x", message=pb.Message(body=b"?"))),
         "INVALID_ARGUMENT", "redis: no request/reply over Redis"),
        (pb.SendRequest(target="cache", publish=pb.Publish(destination="ch", message=pb.Message(
            value=pb.Value(integer=1)))), "INVALID_ARGUMENT", "Redis messages are bytes"),
        (pb.SendRequest(target="cache", publish=pb.Publish(message=pb.Message(body=b"x"))),
         "INVALID_ARGUMENT", "publish.destination"),
        (pb.SendRequest(target="cache", command=pb.Command(args=[b"SUBSCRIBE", b"ch"])),
         "FAILED_PRECONDITION", "(use Recv)"),
        (pb.SendRequest(target="cache", command=pb.Command(args=[b"BLPOP", b"l", b"1"])),
         "FAILED_PRECONDITION", "Acquire a lease"),
        (pb.SendRequest(target="events", command=pb.Command(args=[b"basic.frobnicate"])),
         "INVALID_ARGUMENT", "unknown command 'basic.frobnicate'"),
        (pb.SendRequest(target="events", request=pb.Request(message=pb.Message(body=b"?"))),
         "INVALID_ARGUMENT", "request.routing_key"),
        (pb.SendRequest(target="events"), "INVALID_ARGUMENT", "no operation"),
    ]
    for request, code, fragment in cases:
        got, details = code_of(side.stub.Send, request, timeout=10)
        assert got == code and fragment in details, (request, got, details)
    code, details, _ = recv_until_end(side.stub, [pb.RecvRequest(subscribe=pb.Subscribe(
        target="events", sources=["q"], kind=pb.SOURCE_KIND_PATTERN))])
    assert code == "INVALID_ARGUMENT" and "subscribe.kind" in details
    code, details, _ = recv_until_end(side.stub, [pb.RecvRequest(credit=pb.Credit(credit=1))])
    assert (code, details) == ("INVALID_ARGUMENT", "the first message on a Recv stream must be subscribe")


def test_empty_argv(side):
    for target in ("cache", "events"):
        empty = pb.SendRequest(target=target, command=pb.Command())
        assert code_of(side.stub.Send, empty, timeout=10) == ("INVALID_ARGUMENT", "command.args: empty")
    # On a stream, the one operation fails and the stream goes on.
    requests = [pb.SendStreamRequest(id=1, send=pb.SendRequest(target="cache", command=pb.Command())),
                pb.SendStreamRequest(id=2, send=get())]
    responses = {r.id: r for r in side.stub.SendStream(iter(requests), timeout=10)}
    assert (responses[1].status.code, responses[1].status.message) == (3, "command.args: empty")
    assert responses[2].status.code == 0 and responses[2].result.reply.WhichOneof("kind") == "null"


def test_oversized_messages(side, env):
    big = pb.SendRequest(target="cache", command=pb.Command(args=[b"SET", b"r4:big", b"x" * (MAX_MESSAGE + 1)]))
    code, details = code_of(side.stub.Send, big, timeout=10)
    assert code == "RESOURCE_EXHAUSTED" and "larger than max" in details, details
    code, details = code_of(lambda: list(side.stub.SendStream(iter([pb.SendStreamRequest(id=1, send=big)]),
                                                               timeout=10)))
    assert code == "RESOURCE_EXHAUSTED" and "larger than max" in details, details
    code, details, _ = recv_until_end(side.stub, [pb.RecvRequest(subscribe=pb.Subscribe(
        target="cache", sources=["x" * (MAX_MESSAGE + 1)]))])
    assert code == "RESOURCE_EXHAUSTED" and "larger than max" in details, details
    # A reply too large to send back: the broker did the work, the call fails.
    r = redis.Redis(port=int(env["BROKERSIDE_REDIS_PORT"]))
    key = f"r4:big:{TAG}"
    r.set(key, b"y" * (MAX_MESSAGE + 1))
    code, details = code_of(side.stub.Send, pb.SendRequest(target="cache", command=pb.Command(
        args=[b"GET", key.encode()])), timeout=10)
    r.delete(key)
    r.close()
    assert code == "RESOURCE_EXHAUSTED", (code, details)
    # The channel is fine afterwards.
    assert side.stub.Send(get(), timeout=10).reply.WhichOneof("kind") == "null"


def test_ack_for_unknown_delivery_id(side):
    queue = f"r4.ack.{TAG}"
    amqp_queue(side, queue)
    publish(side, queue, 3)
    subscribe = pb.RecvRequest(subscribe=pb.Subscribe(target="events", sources=[queue], credit=10))
    for bad in (pb.RecvRequest(ack=pb.Ack(delivery_ids=[999])),
                pb.RecvRequest(nack=pb.Nack(delivery_ids=[998], requeue=True))):
        def requests():
            yield subscribe
            time.sleep(1.0)  # the deliveries are in
            yield bad
            time.sleep(10)
        responses = []
        with pytest.raises(grpc.RpcError) as e:
            for r in side.stub.Recv(requests(), timeout=10):
                responses.append(r)
        ids = bad.ack.delivery_ids or bad.nack.delivery_ids
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert e.value.details() == f"delivery id {ids[0]} is unknown or already settled"
        assert sum(r.HasField("delivery") for r in responses) == 3
    # The deliveries the stream held went back to the queue.
    deadline = time.monotonic() + 10
    while queue_count(side, queue) != 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert queue_count(side, queue) == 3


def test_a_nack_delay_where_the_broker_cannot_delay(side):
    """RabbitMQ has no delayed redelivery: the delay is refused, not ignored
    (a message nacked for later would otherwise come straight back)."""
    queue = f"r4.delay.{TAG}"
    amqp_queue(side, queue)
    publish(side, queue, 2)
    nack = pb.Nack(delivery_ids=[1], requeue=True)
    nack.delay.FromMilliseconds(500)
    def messages():
        yield pb.RecvRequest(subscribe=pb.Subscribe(target="events", sources=[queue], credit=10))
        time.sleep(1.0)  # the deliveries are in
        yield pb.RecvRequest(nack=nack)
    code, details, responses = recv_until_end(side.stub, messages(), timeout=5)
    assert sum(r.HasField("delivery") for r in responses) == 2
    assert code == "INVALID_ARGUMENT"
    assert details.startswith("Nack.delay: this target's broker cannot delay a redelivery"), details
    deadline = time.monotonic() + 10
    while queue_count(side, queue) != 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert queue_count(side, queue) == 2  # nothing lost with the stream


def client_process(side, count, queue, *extra):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    return subprocess.Popen([sys.executable, str(HERE / "vanishing_client.py"), side.address, str(count), queue,
                             *extra], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)


def test_clients_that_disconnect_mid_stream(side):
    queue = f"r4.mid.{TAG}"
    amqp_queue(side, queue)
    publish(side, queue, 20)

    # Closed by the client: a SendStream with a BLPOP in flight on a lease,
    # and a Recv holding 5 deliveries, cancelled by closing their channel.
    lease = side.stub.Acquire(pb.AcquireRequest(target="cache"), timeout=10).lease
    channel = side.channel()
    stub = pb_grpc.BrokerStub(channel)
    hold = threading.Event()

    def held_open(first):
        yield first
        hold.wait(30)

    blpop = pb.SendRequest(target="cache", lease=lease, command=pb.Command(args=[b"BLPOP", b"r4:empty", b"1"]))
    stream = stub.SendStream(held_open(pb.SendStreamRequest(id=1, send=blpop)), timeout=30)
    recv = stub.Recv(held_open(pb.RecvRequest(subscribe=pb.Subscribe(target="events", sources=[queue], credit=5))),
                     timeout=30)
    deadline = time.monotonic() + 10
    while queue_count(side, queue) != 15 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert queue_count(side, queue) == 15
    channel.close()
    hold.set()
    for call in (stream, recv):
        with pytest.raises(grpc.RpcError) as e:
            list(call)
        assert e.value.code() == grpc.StatusCode.CANCELLED
    deadline = time.monotonic() + 10
    while queue_count(side, queue) != 20 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert queue_count(side, queue) == 20, "the cancelled Recv's deliveries did not come back"
    time.sleep(1.0)  # the BLPOP ends on the server
    side.stub.Release(pb.ReleaseRequest(lease=lease), timeout=10)

    # Killed -9: a process holding 10 deliveries on 2 Recv streams.
    client = client_process(side, 2, queue, "--recv-only", "10")
    assert client.stdout.readline().strip() == "started"
    assert client.stdout.readline().strip() == "held 10"
    assert queue_count(side, queue) == 10
    client.kill()
    client.wait()
    deadline = time.monotonic() + 10
    while queue_count(side, queue) != 20 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert queue_count(side, queue) == 20, "the vanished client's deliveries did not come back"


def test_a_thousand_clients_connect_and_vanish(side):
    queue = f"r4.many.{TAG}"
    amqp_queue(side, queue)
    publish(side, queue, 200)
    calls_before = calls_ended(side)
    # Every cache connection leased: the clients' Sends wait in the pool
    # when they vanish.
    leases = [side.stub.Acquire(pb.AcquireRequest(target="cache"), timeout=10).lease for _ in range(MAX_CONNECTIONS)]
    waves, per_wave = 10, 100
    started = time.monotonic()
    most_waiters = 0
    for _ in range(waves):
        client = client_process(side, per_wave, queue)
        try:
            assert client.stdout.readline().strip() == "started"
            time.sleep(0.5)  # the calls reach the sidecar
            t = side.stub.Stats(pb.StatsRequest(target="cache"), timeout=10).targets[0]
            most_waiters = max(most_waiters, t.pool.waiters)
        finally:
            client.kill()
            client.wait()
    for lease in leases:
        side.stub.Release(pb.ReleaseRequest(lease=lease), timeout=10)
    vanished = time.monotonic()

    settled = None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        stats = {t.name: t for t in side.stub.Stats(pb.StatsRequest(), timeout=10).targets}
        quiet = all(t.pool.waiters == 0 and t.pool.in_flight == 0 and not t.leases and t.pool.leased == 0
                    and t.pool.in_use == 0 for t in stats.values())
        ended = calls_ended(side) - calls_before
        if quiet and queue_count(side, queue) == 200 and ended >= waves * per_wave:
            settled = time.monotonic()
            break
        time.sleep(0.2)
    print(f"\n{waves * per_wave} clients in {waves} processes killed -9 mid-call in {vanished - started:.1f} s "
          f"(up to {most_waiters} of their calls waiting for a pool connection); settled {settled - vanished if settled else -1:.1f} s "
          f"later: {[(t.name, len(t.connections), t.pool.waiters, len(t.leases)) for t in stats.values()]} "
          f"(name, connections, waiters, leases); calls ended on the server {ended}; queue back to "
          f"{queue_count(side, queue)} of 200")
    assert most_waiters > 0, "the Sends never waited: nothing was mid-call"
    assert settled is not None, stats
    assert all(len(t.connections) <= MAX_CONNECTIONS for t in stats.values())
    assert side.stub.Send(get(), timeout=10).reply.WhichOneof("kind") == "null"


def test_a_cancelled_streams_waiting_operations_leave_the_queue_unrun(env, sidecar):
    """SendStream operations waiting for a pool connection when their client
    goes away leave the queue at once and never run at the broker (as Envoy
    drops a pending request whose downstream reset), instead of holding
    their max_pending places until acquire_timeout and then running for
    nobody. Before this: waiting 30 s, and the 50 INCRs ran once a
    connection came free."""
    s = sidecar("--target", f"solo={env['BROKERSIDE_REDIS_URL']}", "--targets.solo.pool.max_connections=1",
                "--targets.solo.pool.min_idle=0", "--targets.solo.pool.acquire_timeout=30s",
                "--targets.solo.pool.max_pending=60")
    key = f"r4:vanished:{TAG}"
    direct = redis.Redis.from_url(env["BROKERSIDE_REDIS_URL"])
    direct.delete(key)
    with s.channel() as channel:
        stub = pb_grpc.BrokerStub(channel)

        def solo():
            return stub.Stats(pb.StatsRequest(target="solo"), timeout=10).targets[0]

        lease = stub.Acquire(pb.AcquireRequest(target="solo"), timeout=10).lease  # the one connection
        hold = threading.Event()

        def incrs():
            for i in range(50):
                yield pb.SendStreamRequest(id=i, send=pb.SendRequest(
                    target="solo", command=pb.Command(args=[b"INCR", key.encode()])))
            hold.wait(30)

        stream = stub.SendStream(incrs(), timeout=60)
        assert conftest.wait_for(lambda: solo().pool.waiters == 50), solo().pool
        stream.cancel()
        cancelled = time.monotonic()
        hold.set()
        assert conftest.wait_for(lambda: solo().pool.waiters == 0, timeout=5), solo().pool
        left = time.monotonic() - cancelled
        t = solo()
        assert t.counters.cancelled == 50, t.counters
        with urllib.request.urlopen(f"http://127.0.0.1:{s.admin_port}/metrics", timeout=10) as r:
            assert 'brokerside_cancelled_total{target="solo"} 50\n' in r.read().decode()
        stub.Release(pb.ReleaseRequest(lease=lease), timeout=10)
        # The connection is free: what still waited would run now.
        assert stub.Send(pb.SendRequest(target="solo", command=pb.Command(args=[b"INCR", key.encode()])),
                         timeout=10).reply.integer == 1
        print(f"\n50 waiting operations of a cancelled stream out of the queue in {left * 1000:.0f} ms; "
              f"{key} = {direct.get(key)} after the connection came free")
        assert left < 2
    direct.delete(key)

def test_nothing_leaked_and_a_clean_exit(side):
    stats = side.stub.Stats(pb.StatsRequest(), timeout=10)
    for t in stats.targets:
        assert not t.leases and t.pool.leased == 0, t
        assert t.pool.waiters == 0 and t.pool.in_flight == 0, t
        assert len(t.connections) <= MAX_CONNECTIONS, t
    for name in (QUEUE, f"r4.ack.{TAG}", f"r4.mid.{TAG}", f"r4.many.{TAG}"):
        side.stub.Send(pb.SendRequest(target="events", command=pb.Command(args=[b"queue.delete", name.encode()])),
                       timeout=10)
    side.terminated = True
    side.proc.send_signal(signal.SIGTERM)
    code = side.wait(timeout=60)
    log = side.log()
    print(f"\nexit {code}; stderr {len(log.splitlines())} lines, sanitizer reports: "
          f"{sum(w in log for w in ('LeakSanitizer', 'AddressSanitizer', 'runtime error'))}")
    assert code == 0, log[-3000:]
    for word in ("LeakSanitizer", "AddressSanitizer", "runtime error:"):
        assert word not in log, log[-3000:]
