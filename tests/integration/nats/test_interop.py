"""The NATS adapter against nats-server (started by scripts/brokers.sh) and
nats-py, an independent client: brokerside publishes reach a nats-py
subscriber with their headers, brokerside requests reach a nats-py responder
and come back with its reply, no responders is UNAVAILABLE, max_payload is
enforced before writing, nats-py publishes reach Recv streams (wildcards,
headers, reply subjects, a queue group spread over two streams), and bad
input is refused with its reason."""

import asyncio
import subprocess
import threading
import time
import uuid

import grpc
import nats
import pytest

from brokerside.v1 import brokerside_pb2 as pb
from brokerside.v1 import brokerside_pb2_grpc as pb_grpc
from conftest import wait_for


class NatsPeer:
    """A nats-py client on its own event loop thread, so the gRPC calls of
    the test (blocking) and the peer's callbacks run side by side."""

    def __init__(self, url):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.nc = self.call(nats.connect(url))

    def call(self, coroutine, timeout=10):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def close(self):
        self.call(self.nc.drain())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture
def nats_url(brokers):
    return brokers["BROKERSIDE_NATS_URL"]


@pytest.fixture
def peer(nats_url):
    p = NatsPeer(nats_url)
    yield p
    p.close()


def subject(what):
    return f"bs.test.{what}.{uuid.uuid4().hex[:8]}"


def test_publishes_reach_a_nats_py_subscriber_with_headers(sidecar, nats_url, peer):
    got = []
    received = threading.Event()
    topic = subject("pub")

    async def on_message(msg):
        got.append(msg)
        if len(got) == 3:
            received.set()

    peer.call(peer.nc.subscribe(topic, cb=on_message))
    peer.call(peer.nc.flush())
    s = sidecar("--target", f"events={nats_url}")
    with s.channel() as channel:
        broker = pb_grpc.BrokerStub(channel)
        plain = pb.Message(body=b"\x00binary\xff")
        headed = pb.Message(json='{"n": 2}', message_id="m-2",
                            headers={"Trace": pb.Value(text="abc"), "Raw": pb.Value(bytes=b"xyz")})
        for message in (plain, headed, pb.Message(body=b"")):
            reply = broker.Send(pb.SendRequest(target="events", publish=pb.Publish(
                destination=topic, message=message)), timeout=5)
            assert reply.WhichOneof("outcome") == "published"
    assert received.wait(5), got
    assert got[0].data == b"\x00binary\xff"
    assert not got[0].headers
    assert got[1].data == b'{"n": 2}'
    assert got[1].headers == {"Trace": "abc", "Raw": "xyz", "Nats-Msg-Id": "m-2"}
    assert got[2].data == b""


def test_requests_are_answered_by_a_nats_py_responder(sidecar, nats_url, peer):
    topic = subject("rpc")

    async def respond(msg):
        await peer.nc.publish(msg.reply, msg.data[::-1],
                              headers={"Served-By": "nats-py"} if msg.headers else None)

    peer.call(peer.nc.subscribe(topic, queue="workers", cb=respond))
    peer.call(peer.nc.flush())
    s = sidecar("--target", f"events={nats_url}")
    with s.channel() as channel:
        broker = pb_grpc.BrokerStub(channel)
        # Many at once on the same connection: each reply finds its caller.
        futures = [broker.Send.future(pb.SendRequest(target="events", request=pb.Request(
            destination=topic, message=pb.Message(body=f"q{i}".encode()))), timeout=10)
            for i in range(20)]
        for i, f in enumerate(futures):
            assert f.result().response.body == f"q{i}".encode()[::-1]
        reply = broker.Send(pb.SendRequest(target="events", request=pb.Request(
            destination=topic, message=pb.Message(body=b"abc", headers={"K": pb.Value(text="v")}))),
            timeout=5).response
        assert reply.body == b"cba"
        assert reply.headers["Served-By"].text == "nats-py"
        stats = broker.Stats(pb.StatsRequest(target="events"), timeout=5).targets[0]
        assert stats.adapter == "nats" and stats.adapter_implemented


def test_no_responders_is_unavailable_and_the_connection_carries_on(sidecar, nats_url):
    s = sidecar("--target", f"events={nats_url}")
    with s.channel() as channel:
        broker = pb_grpc.BrokerStub(channel)
        with pytest.raises(grpc.RpcError) as e:
            broker.Send(pb.SendRequest(target="events", request=pb.Request(
                destination=subject("nobody"), message=pb.Message(body=b"?"))), timeout=5)
        assert e.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "no responders" in e.value.details()
        broker.Send(pb.SendRequest(target="events", publish=pb.Publish(
            destination=subject("after"), message=pb.Message(body=b"ok"))), timeout=5)
        stats = broker.Stats(pb.StatsRequest(target="events"), timeout=5).targets[0]
        assert stats.counters.disconnects == 0


def test_bad_input_is_refused_with_its_reason_before_anything_is_sent(sidecar, nats_url):
    s = sidecar("--target", f"events={nats_url}")
    with s.channel() as channel:
        broker = pb_grpc.BrokerStub(channel)

        def refused(request):
            with pytest.raises(grpc.RpcError) as e:
                broker.Send(request, timeout=5)
            return e.value

        # Beyond the server's max_payload (1 MiB by default): named, not sent.
        e = refused(pb.SendRequest(target="events", publish=pb.Publish(
            destination=subject("big"), message=pb.Message(body=b"x" * ((1 << 20) + 1)))))
        assert e.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "max_payload (1048576 bytes" in e.details(), e.details()
        e = refused(pb.SendRequest(target="events", publish=pb.Publish(
            destination="has space", message=pb.Message(body=b"x"))))
        assert e.code() == grpc.StatusCode.INVALID_ARGUMENT and "not a NATS subject" in e.details()
        e = refused(pb.SendRequest(target="events", publish=pb.Publish(
            destination="a.b", message=pb.Message(body=b"x", headers={"Bad Key": pb.Value(text="v")}))))
        assert e.code() == grpc.StatusCode.INVALID_ARGUMENT and "message.headers" in e.details()
        e = refused(pb.SendRequest(target="events", command=pb.Command(args=[b"STREAM.INFO.x", b"{}", b"3"])))
        assert e.code() == grpc.StatusCode.INVALID_ARGUMENT and "JetStream API subject" in e.details()
        e = refused(pb.SendRequest(target="events", command=pb.Command(args=[b"STREAM INFO"])))
        assert e.code() == grpc.StatusCode.INVALID_ARGUMENT and "not a JetStream API subject" in e.details()
        # The connection survived all of it.
        broker.Send(pb.SendRequest(target="events", publish=pb.Publish(
            destination=subject("fine"), message=pb.Message(body=b"x"))), timeout=5)
        assert broker.Stats(pb.StatsRequest(target="events"), timeout=5).targets[0].counters.disconnects == 0


class Subscriber:
    """A Recv stream on its own thread, collecting deliveries."""

    def __init__(self, broker, sources, group="", credit=100):
        self.stop = threading.Event()
        self.deliveries = []
        self.subscribed = threading.Event()

        def requests():
            yield pb.RecvRequest(subscribe=pb.Subscribe(target="events", sources=sources, group=group,
                                                        credit=credit))
            self.stop.wait(30)

        self.stream = broker.Recv(requests(), timeout=30)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()
        assert self.subscribed.wait(10), "no Subscribed"

    def _read(self):
        try:
            for response in self.stream:
                if response.WhichOneof("kind") == "subscribed":
                    self.subscribed.set()
                elif response.WhichOneof("kind") == "delivery":
                    self.deliveries.append(response.delivery)
        except grpc.RpcError:
            pass

    def close(self):
        self.stop.set()
        self.stream.cancel()
        self.thread.join(5)


def test_nats_py_publishes_reach_recv_with_headers_reply_subjects_and_wildcards(sidecar, nats_url, peer):
    base = subject("recv")
    s = sidecar("--target", f"events={nats_url}")
    with s.channel() as channel:
        broker = pb_grpc.BrokerStub(channel)
        sub = Subscriber(broker, [base + ".*", base + ".deep.>"])
        try:
            for i in range(10):
                peer.call(peer.nc.publish(f"{base}.m{i}", f"body{i}".encode(), reply="reply.here",
                                          headers={"N": str(i)}))
            peer.call(peer.nc.publish(f"{base}.deep.a.b", b"deep"))
            peer.call(peer.nc.publish(f"{base}.not.matched", b"no"))  # two tokens: not "*"
            peer.call(peer.nc.flush())
            assert wait_for(lambda: len(sub.deliveries) >= 11), len(sub.deliveries)
            time.sleep(0.2)
            got = sub.deliveries
            assert len(got) == 11
            for i, d in enumerate(got[:10]):
                assert d.source == f"{base}.m{i}"
                assert d.message.body == f"body{i}".encode()
                assert d.message.headers["N"].text == str(i)
                assert d.message.reply_to == "reply.here"
            assert got[10].source == f"{base}.deep.a.b" and got[10].message.body == b"deep"
        finally:
            sub.close()


def test_a_queue_group_spreads_messages_across_streams_each_once(sidecar, nats_url, peer):
    topic = subject("group")
    s = sidecar("--target", f"events={nats_url}")
    with s.channel() as channel:
        broker = pb_grpc.BrokerStub(channel)
        subs = [Subscriber(broker, [topic], group="workers") for _ in range(2)]
        try:
            for i in range(40):
                peer.call(peer.nc.publish(topic, str(i).encode()))
            peer.call(peer.nc.flush())
            assert wait_for(lambda: sum(len(x.deliveries) for x in subs) >= 40)
            time.sleep(0.2)
            bodies = [d.message.body for x in subs for d in x.deliveries]
            assert sorted(bodies) == sorted(str(i).encode() for i in range(40))  # each once
            assert all(x.deliveries for x in subs), [len(x.deliveries) for x in subs]
        finally:
            for x in subs:
                x.close()


def test_core_subscriptions_share_a_few_connections_and_one_leaving_takes_nothing_from_the_others(
        sidecar, nats_url, brokers, peer):
    base = subject("shared")
    s = sidecar("--target", f"events={nats_url}", "--targets.events.pool.min_idle=1")
    with s.channel() as channel:
        broker = pb_grpc.BrokerStub(channel)
        subs = [Subscriber(broker, [f"{base}.{i}"]) for i in range(100)]
        try:
            for i in range(100):
                peer.call(peer.nc.publish(f"{base}.{i}", f"to {i}".encode()))
            peer.call(peer.nc.flush())
            assert wait_for(lambda: all(len(x.deliveries) == 1 for x in subs))
            assert all(x.deliveries[0].message.body == f"to {i}".encode() for i, x in enumerate(subs))
            # 4 subscriber connections (the default) and the pool's own, as
            # the kernel counts the sidecar's sockets to the server.
            out = subprocess.run(["ss", "-tnpH", "state", "established",
                                  f"( dport = :{brokers['BROKERSIDE_NATS_PORT']} )"],
                                 capture_output=True, text=True, check=True).stdout
            connections = sum(1 for line in out.splitlines() if f"pid={s.proc.pid}," in line)
            assert 5 <= connections <= 6, connections
            # Half leave (UNSUB on the shared connections): the others get
            # what comes next, and the ones that left get nothing more.
            for x in subs[:50]:
                x.close()
            time.sleep(0.3)
            for i in range(100):
                peer.call(peer.nc.publish(f"{base}.{i}", b"again"))
            peer.call(peer.nc.flush())
            assert wait_for(lambda: all(len(x.deliveries) == 2 for x in subs[50:]))
            assert all(len(x.deliveries) == 1 for x in subs[:50])
        finally:
            for x in subs:
                x.close()


def test_bad_subscriptions_are_refused_with_their_reason(sidecar, nats_url):
    s = sidecar("--target", f"events={nats_url}")
    with s.channel() as channel:
        broker = pb_grpc.BrokerStub(channel)
        for subscribe, reason in (
                (pb.Subscribe(target="events"), "subscribe.sources"),
                (pb.Subscribe(target="events", sources=["a..b"]), "not a NATS subject"),
                (pb.Subscribe(target="events", sources=["a"], kind=pb.SOURCE_KIND_PATTERN), "subscribe.kind"),
                (pb.Subscribe(target="events", sources=["a"], group="two words"), "subscribe.group")):
            with pytest.raises(grpc.RpcError) as e:
                next(broker.Recv(iter([pb.RecvRequest(subscribe=subscribe)]), timeout=5))
            assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT, e.value
            assert reason in e.value.details(), e.value.details()


def value_map(value):
    """A v1 Value map as a dict of its keys' texts."""
    return {e.key.text: e.value for e in value.map.entries}


def test_jetstream_streams_commands_and_confirmed_publishes_deduplicated_by_message_id(sidecar, nats_url):
    stream = f"BS{uuid.uuid4().hex[:8].upper()}"
    topic = f"js.{stream.lower()}"
    s = sidecar("--target", f"events={nats_url}", "--target", f"js={nats_url}", "--targets.js.jetstream=true")
    with s.channel() as channel:
        broker = pb_grpc.BrokerStub(channel)

        def api(*args, target="events"):
            return broker.Send(pb.SendRequest(target=target, command=pb.Command(
                args=[a.encode() for a in args])), timeout=10).reply

        created = value_map(api(f"STREAM.CREATE.{stream}",
                                '{"name": "' + stream + '", "subjects": ["' + topic + '.>"], "storage": "memory"}'))
        assert value_map(created["config"])["name"].text == stream

        def publish(body, message_id=""):
            return broker.Send(pb.SendRequest(target="js", publish=pb.Publish(
                destination=f"{topic}.a", message=pb.Message(body=body, message_id=message_id))),
                timeout=10).published

        first = publish(b"one", "id-1")
        assert (first.stream, first.offset, first.duplicate) == (stream, 1, False)
        again = publish(b"one again", "id-1")  # the same message id: not stored twice
        assert (again.offset, again.duplicate) == (1, True)
        assert publish(b"two").offset == 2
        info = value_map(api(f"STREAM.INFO.{stream}"))
        assert value_map(info["state"])["messages"].integer == 2

        # Errors the API answers are statuses, with its words.
        with pytest.raises(grpc.RpcError) as e:
            api("STREAM.INFO.NOSUCHSTREAM")
        assert e.value.code() == grpc.StatusCode.NOT_FOUND
        assert "stream not found" in e.value.details(), e.value.details()
        with pytest.raises(grpc.RpcError) as e:
            api(f"STREAM.CREATE.{stream}", '{"name": "' + stream + '", "subjects": ["other.>"]}')  # in use
        assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION, e.value.details()
        with pytest.raises(grpc.RpcError) as e:
            api("STREAM.INFO.x", "not json")
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        # A JetStream publish no stream takes.
        with pytest.raises(grpc.RpcError) as e:
            broker.Send(pb.SendRequest(target="js", publish=pb.Publish(
                destination="nowhere.at.all", message=pb.Message(body=b"x"))), timeout=10)
        assert e.value.code() == grpc.StatusCode.NOT_FOUND
        assert "no JetStream stream" in e.value.details()

        assert value_map(api(f"STREAM.DELETE.{stream}"))["success"].boolean
