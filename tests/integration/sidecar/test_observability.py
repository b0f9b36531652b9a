"""Seeing inside: /metrics histograms (calls by kind, pool waits, broker
round trips, Recv settlements) and byte counters that count exactly what
the calls carried and pass `promtool check metrics`; the same histograms in
the Stats RPC; and `brokerside stats`, read off a real terminal (tmux) while
load runs, and as JSON."""

import json
import os
import re
import shutil
import subprocess
import threading
import time

import grpc
import pytest

from brokerside.v1 import brokerside_pb2 as pb
from brokerside.v1 import brokerside_pb2_grpc as pb_grpc
from conftest import BINARY, http_get, run_binary, wait_for

TAG = f"obs{os.getpid()}"


def metric_values(text, name):
    """{labels: value} of the samples of `name` (labels as the raw text)."""
    out = {}
    for line in text.splitlines():
        m = re.match(rf"^{name}\{{(.*)\}} (\S+)$", line)
        if m:
            out[m.group(1)] = float(m.group(2))
    return out


def get(key):
    return pb.SendRequest(target="cache", command=pb.Command(args=[b"GET", key.encode()]))


def test_histograms_and_bytes_count_every_call_and_pass_promtool(sidecar, brokers):
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: scripts/deps.sh installs Debian's prometheus package"
    s = sidecar("--target", f"cache={brokers['BROKERSIDE_REDIS_URL']}",
                "--target", f"events={brokers['BROKERSIDE_AMQP_URL']}")
    sent = received = 0
    with s.channel() as channel:
        broker = pb_grpc.BrokerStub(channel)
        for i in range(20):
            request = get(f"{TAG}:{i}")
            sent += request.command.ByteSize()
            received += broker.Send(request, timeout=5).ByteSize()
        for i in range(5):
            request = pb.SendRequest(target="cache", publish=pb.Publish(
                destination=f"{TAG}.chan", message=pb.Message(body=b"x" * i)))
            sent += request.publish.ByteSize()
            received += broker.Send(request, timeout=5).ByteSize()
        # Three AMQP deliveries acked: three settlements.
        queue = f"{TAG}.q"
        broker.Send(pb.SendRequest(target="events", command=pb.Command(
            args=[b"queue.declare", queue.encode()], options={"auto_delete": pb.Value(boolean=True)})),
            timeout=5)
        for i in range(3):
            broker.Send(pb.SendRequest(target="events", publish=pb.Publish(
                routing_key=queue, message=pb.Message(body=b"m"))), timeout=5)
        delivered, done = [], threading.Event()

        def requests():
            yield pb.RecvRequest(subscribe=pb.Subscribe(target="events", sources=[queue], credit=10))
            wait_for(lambda: len(delivered) == 3)
            yield pb.RecvRequest(ack=pb.Ack(delivery_ids=[d.delivery_id for d in delivered]))
            done.wait(10)

        def settled():
            s = broker.Stats(pb.StatsRequest(target="events"), timeout=5).targets[0]
            return s.latencies["recv.settle"].count

        stream = broker.Recv(requests(), timeout=10)
        try:
            for r in stream:
                if r.HasField("delivery"):
                    delivered.append(r.delivery)
                if len(delivered) == 3:
                    break
            assert wait_for(lambda: settled() == 3), settled()
        finally:
            done.set()
            stream.cancel()

        stats = broker.Stats(pb.StatsRequest(target="cache"), timeout=5).targets[0]
        command = stats.latencies["call.command"]
        assert command.count == 20 and sum(command.counts) == 20
        assert len(command.counts) == len(command.bounds_seconds) + 1
        assert command.bounds_seconds[0] == 0.000025 and command.bounds_seconds[-1] == 10
        assert stats.latencies["call.publish"].count == 5
        assert stats.latencies["broker.round_trip"].count == 25
        assert stats.latencies["pool.wait"].count == 25
        assert stats.bytes_to_broker == sent and stats.bytes_from_broker == received

    status, text = http_get(s.admin_port, "/metrics")
    assert status == 200
    check = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    counts = metric_values(text, "brokerside_call_duration_seconds_count")
    assert counts['target="cache",kind="command"'] == 20
    assert counts['target="cache",kind="publish"'] == 5
    assert counts['target="cache",kind="request"'] == 0
    buckets = metric_values(text, "brokerside_call_duration_seconds_bucket")
    series = [v for k, v in buckets.items() if k.startswith('target="cache",kind="command"')]
    assert series == sorted(series) and series[-1] == 20  # cumulative, +Inf last
    assert metric_values(text, "brokerside_broker_round_trip_seconds_count")['target="cache"'] == 25
    assert metric_values(text, "brokerside_pool_wait_seconds_count")['target="cache"'] == 25
    assert metric_values(text, "brokerside_recv_settle_seconds_count")['target="events"'] == 3
    assert metric_values(text, "brokerside_recv_settle_seconds_count")['target="cache"'] == 0
    traffic = metric_values(text, "brokerside_bytes_total")
    assert traffic['target="cache",direction="to_broker"'] == sent
    assert traffic['target="cache",direction="from_broker"'] == received


def load(address, stop, errors):
    """GETs, 8 at a time, until `stop`."""
    with grpc.insecure_channel(address) as channel:
        broker = pb_grpc.BrokerStub(channel)
        while not stop.is_set():
            futures = [broker.Send.future(get(f"{TAG}:load"), timeout=5) for _ in range(8)]
            for f in futures:
                try:
                    f.result()
                except grpc.RpcError as e:
                    errors.append(e)


def tmux(*args):
    return subprocess.run(["tmux", *args], capture_output=True, text=True, timeout=10)


def test_the_stats_console_in_a_terminal_shows_targets_rates_latencies_and_leases(sidecar, brokers):
    assert shutil.which("tmux"), "tmux is missing: scripts/deps.sh installs it"
    s = sidecar("--target", f"cache={brokers['BROKERSIDE_REDIS_URL']}",
                "--target", "gone=redis://127.0.0.1:1", "--targets.gone.breaker.failure_threshold=1")
    session = f"bs{os.getpid()}"
    stop, errors = threading.Event(), []
    loader = threading.Thread(target=load, args=(s.address, stop, errors))
    with s.channel() as channel:
        broker = pb_grpc.BrokerStub(channel)
        lease = broker.Acquire(pb.AcquireRequest(target="cache"), timeout=5).lease
        with pytest.raises(grpc.RpcError):  # opens the breaker of 'gone'
            broker.Send(pb.SendRequest(target="gone", command=pb.Command(args=[b"PING"])), timeout=2)
        loader.start()
        try:
            assert tmux("new-session", "-d", "-s", session, "-x", "150", "-y", "20",
                        f"{BINARY} stats --address {s.address} --watch --interval 0.5").returncode == 0

            def screen():
                return tmux("capture-pane", "-p", "-t", session).stdout

            # TARGET ADAPTER STATE CONN(idle/use/leased/max) WAIT INFL OPS/S ERR/S P50 P99 RECV LEASES,
            # once the load shows: operations per second, no errors, percentiles, and the lease
            # holding one connection.
            row = re.compile(r"^cache\s+redis\s+up\s+\d+/\d+/1/\d+\s+\d+\s+\d+\s+[1-9]\d*\s+0\s+"
                             r"[\d.]+(us|ms|s)\s+[\d.]+(us|ms|s)\s+0\s+1$", re.M)
            assert wait_for(lambda: row.search(screen()), timeout=10), screen()
            text = screen()
            assert re.search(r"^gone\s+redis\s+open\s", text, re.M), text
            assert "TARGET" in text and "P99" in text and "LEASE" in text
            assert lease in text, text
            # The same as JSON, for scripts: one object per interval.
            code, out, err = run_binary("stats", "--address", s.address, "--json", "--interval", "0.5",
                                        "--count", "2", "--target", "cache")
            assert code == 0, err
            readings = [json.loads(line) for line in out.splitlines()]
            assert len(readings) == 2
            (cache,) = readings[-1]["targets"]
            assert cache["name"] == "cache" and cache["state"] == "up"
            assert cache["ops_per_second"] > 0 and cache["errors_per_second"] == 0
            assert 0 < cache["p50_seconds"] <= cache["p99_seconds"]
            assert [l["lease"] for l in cache["leases"]] == [lease]
        finally:
            stop.set()
            loader.join(10)
            tmux("kill-session", "-t", session)
    assert not errors, errors[:3]


def test_the_stats_console_says_what_is_wrong_with_its_arguments(sidecar):
    code, out, err = run_binary("stats", "--interval", "0")
    assert code == 2 and "--interval: '0' is not a number of seconds from 0.1 to 3600" in err
    code, out, err = run_binary("stats", "--bogus")
    assert code == 2 and "unknown flag --bogus" in err
    code, out, err = run_binary("stats", "--address", "127.0.0.1:1", "--interval", "0.1")
    assert code == 1 and "127.0.0.1:1" in err


PARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
APPS_OWN = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


class Receiver:
    """A Recv stream on its own thread, collecting deliveries (acked at once)."""

    def __init__(self, broker, target, sources):
        self.deliveries, self.subscribed = [], threading.Event()
        self._done = threading.Event()
        self._acks = []

        def requests():
            yield pb.RecvRequest(subscribe=pb.Subscribe(target=target, sources=sources, credit=50,
                                                        ack_mode=pb.ACK_MODE_AUTO))
            self._done.wait(30)

        self._stream = broker.Recv(requests(), timeout=30)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        try:
            for r in self._stream:
                if r.HasField("subscribed"):
                    self.subscribed.set()
                elif r.HasField("delivery"):
                    self.deliveries.append(r.delivery)
        except grpc.RpcError:
            pass

    def close(self):
        self._done.set()
        self._stream.cancel()
        self._thread.join(10)


def publish(broker, target, trace=None, headers=None, **where):
    message = pb.Message(body=b"traced")
    for k, v in (headers or {}).items():
        message.headers[k].text = v
    metadata = (("traceparent", trace), ("tracestate", "bs=1")) if trace else ()
    return broker.Send(pb.SendRequest(target=target, publish=pb.Publish(message=message, **where)),
                       metadata=metadata, timeout=5)


def test_a_trace_crosses_the_broker_in_the_messages_headers_and_the_access_log_says_so(sidecar, brokers):
    s = sidecar("--target", f"events={brokers['BROKERSIDE_AMQP_URL']}",
                "--target", f"nats={brokers['BROKERSIDE_NATS_URL']}",
                "--target", f"cache={brokers['BROKERSIDE_REDIS_URL']}",
                "--log.access_sample=1")
    queue, subject = f"{TAG}.traced", f"{TAG}.traced"
    with s.channel() as channel:
        broker = pb_grpc.BrokerStub(channel)
        broker.Send(pb.SendRequest(target="events", command=pb.Command(
            args=[b"queue.declare", queue.encode()], options={"auto_delete": pb.Value(boolean=True)})),
            timeout=5)
        amqp, nats = Receiver(broker, "events", [queue]), Receiver(broker, "nats", [subject])
        try:
            assert amqp.subscribed.wait(10) and nats.subscribed.wait(10)
            publish(broker, "events", PARENT, routing_key=queue)
            publish(broker, "events", PARENT, headers={"traceparent": APPS_OWN}, routing_key=queue)
            publish(broker, "events", None, routing_key=queue)
            publish(broker, "nats", PARENT, destination=subject)
            publish(broker, "cache", PARENT, destination=f"{TAG}.chan")  # Redis: no headers, no error
            assert wait_for(lambda: len(amqp.deliveries) == 3 and len(nats.deliveries) == 1)
        finally:
            amqp.close()
            nats.close()
    first, own, untraced = amqp.deliveries
    assert (first.trace.traceparent, first.trace.tracestate) == (PARENT, "bs=1")
    assert first.message.headers["traceparent"].text == PARENT  # as any AMQP consumer sees it
    assert own.trace.traceparent == APPS_OWN  # the app's own header wins
    assert not untraced.HasField("trace") and "traceparent" not in untraced.message.headers
    assert nats.deliveries[0].trace.traceparent == PARENT
    assert nats.deliveries[0].message.headers["traceparent"].text == PARENT

    lines = [json.loads(line) for line in s.output().splitlines() if line.startswith("{")]
    publishes = [l for l in lines if l["operation"] == "publish"]
    assert len(publishes) == 5, lines
    traced = [l for l in publishes if l.get("trace_id") == PARENT[3:35]]
    assert {l["target"] for l in traced} == {"events", "nats", "cache"}
    assert all(l["status"] == "OK" and l["duration_ms"] > 0 and l["caller"] == "" for l in publishes)
    assert any(l["operation"] == "command" and l["target"] == "events" for l in lines)


def test_tracing_generate_gives_a_call_without_a_trace_a_new_one(sidecar, brokers):
    s = sidecar("--target", f"nats={brokers['BROKERSIDE_NATS_URL']}", "--tracing.generate=true")
    subject = f"{TAG}.generated"
    with s.channel() as channel:
        broker = pb_grpc.BrokerStub(channel)
        r = Receiver(broker, "nats", [subject])
        try:
            assert r.subscribed.wait(10)
            publish(broker, "nats", None, destination=subject)
            publish(broker, "nats", PARENT, destination=subject)  # a caller's own is kept
            assert wait_for(lambda: len(r.deliveries) == 2)
        finally:
            r.close()
    made, given = r.deliveries
    assert re.fullmatch(r"00-[0-9a-f]{32}-[0-9a-f]{16}-01", made.trace.traceparent)
    assert made.trace.traceparent != PARENT
    assert given.trace.traceparent == PARENT
