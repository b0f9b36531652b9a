"""The NATS adapter against nats-servers of the test's own: TLS started after
INFO with a certificate made here (verified with the CA given, refused
without it), logins the server accepts or refuses (user and password, a
token, an NKEY seed signing the server's nonce), a server in lame-duck mode
handing its work to the cluster peer it told of, and a Recv stream's
subscriptions restored after the server is killed -9 and restarted (a
JetStream one taking up its consumer where it was)."""

import asyncio
import itertools
import json
import os
import queue
import signal
import socket
import threading
import time

import grpc
import nats
import nkeys
import pytest

from brokerside.v1 import brokerside_pb2 as pb
from brokerside.v1 import brokerside_pb2_grpc as pb_grpc
from conftest import free_port, run_binary
from own_brokers import OwnNats


@pytest.fixture
def own(tmp_path):
    started = []
    names = itertools.count()  # one directory each, also for one that failed to start

    def start(**options):
        n = OwnNats(tmp_path, name=f"nats{next(names)}", **options)
        started.append(n)
        return n

    yield start
    for n in started:
        n.close()


def request(destination, body=b"x"):
    return pb.SendRequest(target="events", publish=pb.Publish(destination=destination,
                                                              message=pb.Message(body=body)))


def test_tls_after_info_with_a_verified_certificate(sidecar, own):
    server = own(tls=True)
    url = f"tls://localhost:{server.port}"
    s = sidecar("--target", f"events={url}", f"--targets.events.tls.ca_file={server.dir / 'ca.pem'}",
                "--target", f"unverified={url}", "--targets.unverified.retry.max_retries=0",
                "--target", f"plain=nats://127.0.0.1:{server.port}", "--targets.plain.retry.max_retries=0")
    with s.channel() as channel:
        broker = pb_grpc.BrokerStub(channel)
        reply = broker.Send(request("over.tls"), timeout=10)
        assert reply.WhichOneof("outcome") == "published"
        # Without the CA the system store does not trust the test's certificate.
        unverified = request("x")
        unverified.target = "unverified"
        with pytest.raises(grpc.RpcError) as e:
            broker.Send(unverified, timeout=10)
        assert e.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "certificate verify failed" in e.value.details(), e.value.details()
        # A plain URL to a server that requires TLS is refused, saying so.
        plain = request("x")
        plain.target = "plain"
        with pytest.raises(grpc.RpcError) as e:
            broker.Send(plain, timeout=10)
        assert e.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "requires TLS" in e.value.details(), e.value.details()


def test_a_login_the_server_refuses_says_why_without_the_password(sidecar, own):
    server = own(user="app", password="hunter2")
    s = sidecar("--target", f"events=nats://app:hunter2@127.0.0.1:{server.port}",
                "--target", f"wrong=nats://app:nope-nope@127.0.0.1:{server.port}",
                "--targets.wrong.retry.max_retries=0")
    with s.channel() as channel:
        broker = pb_grpc.BrokerStub(channel)
        assert broker.Send(request("ok"), timeout=10).WhichOneof("outcome") == "published"
        wrong = request("x")
        wrong.target = "wrong"
        with pytest.raises(grpc.RpcError) as e:
            broker.Send(wrong, timeout=10)
        assert e.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert "Authorization Violation" in e.value.details(), e.value.details()
        assert "nope-nope" not in e.value.details()
        assert "nope-nope" not in s.log()


def test_a_token_from_a_secret_file(sidecar, own, tmp_path):
    server = own(token="s3cret-token")
    secret = tmp_path / "nats-token"
    secret.write_text("s3cret-token\n")
    s = sidecar("--target", f"events=nats://127.0.0.1:{server.port}",
                f"--targets.events.password_file={secret}")
    with s.channel() as channel:
        broker = pb_grpc.BrokerStub(channel)
        assert broker.Send(request("ok"), timeout=10).WhichOneof("outcome") == "published"
    assert "s3cret-token" not in s.log()


def new_user_seed(tmp_path, name):
    """A user's NKEY seed made by nkeys (nats-io's Python library), in a file
    as `nk -gen user` writes it; returns (path, public key)."""
    seed = nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER)
    path = tmp_path / name
    path.write_bytes(seed + b"\n")
    return path, nkeys.from_seed(bytearray(seed)).public_key.decode()


def test_nkey_authentication_signs_the_servers_nonce_with_the_seed_file(sidecar, own, tmp_path):
    seed, public = new_user_seed(tmp_path, "user.nk")
    other, _ = new_user_seed(tmp_path, "other.nk")
    server = own(nkey=public)
    url = f"nats://127.0.0.1:{server.port}"
    # nats-py gets in with the same seed: the server is configured as meant.
    async def nats_py_connects():
        nc = await nats.connect(url, nkeys_seed=str(seed), connect_timeout=5, max_reconnect_attempts=0)
        await nc.close()
    asyncio.run(nats_py_connects())
    s = sidecar("--target", f"events={url}", f"--targets.events.nkey_seed_file={seed}",
                "--target", f"wrong={url}", f"--targets.wrong.nkey_seed_file={other}",
                "--targets.wrong.retry.max_retries=0",
                "--target", f"none={url}", "--targets.none.retry.max_retries=0")
    with s.channel() as channel:
        broker = pb_grpc.BrokerStub(channel)
        assert broker.Send(request("ok"), timeout=10).WhichOneof("outcome") == "published"
        for target in ("wrong", "none"):
            refused = request("x")
            refused.target = target
            with pytest.raises(grpc.RpcError) as e:
                broker.Send(refused, timeout=10)
            assert e.value.code() == grpc.StatusCode.PERMISSION_DENIED, target
            assert "Authorization Violation" in e.value.details(), e.value.details()
    log = s.log()
    for secret in (seed.read_text().strip(), other.read_text().strip()):
        assert secret not in log


def test_a_file_without_a_user_seed_stops_startup_naming_the_setting(tmp_path):
    bad = tmp_path / "bad.nk"
    bad.write_text("SUNOTASEED\n")
    code, _, err = run_binary("--target", "events=nats://127.0.0.1:4222",
                              f"--targets.events.nkey_seed_file={bad}", "--check-config")
    assert code != 0
    assert "targets.events.nkey_seed_file" in err and "no NATS user seed" in err, err
    assert "SUNOTASEED" not in err


def test_core_subscriptions_are_restored_after_the_server_is_killed_and_restarted(sidecar, own):
    server = own()
    url = f"nats://127.0.0.1:{server.port}"
    s = sidecar("--target", f"events={url}", "--targets.events.breaker.open_timeout=1s")
    with s.channel() as channel:
        broker = pb_grpc.BrokerStub(channel)
        stop = threading.Event()

        def requests():
            yield pb.RecvRequest(subscribe=pb.Subscribe(target="events", sources=["restore.>"], credit=100))
            stop.wait(60)

        stream = broker.Recv(requests(), timeout=60)
        assert next(stream).WhichOneof("kind") == "subscribed"
        server.kill9()
        server.start()
        # Published through brokerside (a pooled connection of its own) until
        # one arrives: the stream re-subscribed on a new connection.
        got = []

        def read():
            for response in stream:
                if response.WhichOneof("kind") == "delivery":
                    got.append(response.delivery)
                    return

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        deadline = time.monotonic() + 15
        while not got and time.monotonic() < deadline:
            try:
                broker.Send(request("restore.after"), timeout=2)
            except grpc.RpcError:
                pass
            reader.join(0.2)
        stop.set()
        stream.cancel()
        assert got and got[0].source == "restore.after", "no delivery after the restart"


def test_a_jetstream_recv_takes_up_its_consumer_where_it_was_after_the_server_is_killed(sidecar, own):
    server = own(jetstream=True)
    url = f"nats://127.0.0.1:{server.port}"
    s = sidecar("--target", f"events={url}", "--targets.events.jetstream=true",
                "--targets.events.breaker.open_timeout=1s")
    with s.channel() as channel:
        broker = pb_grpc.BrokerStub(channel)
        broker.Send(pb.SendRequest(target="events", command=pb.Command(args=[
            b"STREAM.CREATE.KEPT", b'{"name": "KEPT", "subjects": ["kept.>"], "storage": "file"}'])), timeout=10)
        for i in range(5):
            broker.Send(request("kept.a", str(i).encode()), timeout=10)
        requests = queue.Queue()
        requests.put(pb.RecvRequest(subscribe=pb.Subscribe(target="events", sources=["kept.a"], credit=100)))
        stream = broker.Recv(iter(requests.get, None), timeout=60)
        got = []

        def read():
            try:
                for response in stream:
                    if response.WhichOneof("kind") == "delivery":
                        got.append(response.delivery)
                        requests.put(pb.RecvRequest(ack=pb.Ack(delivery_ids=[response.delivery.delivery_id])))
            except grpc.RpcError:
                pass

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        deadline = time.monotonic() + 10
        while len(got) < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [d.offset for d in got] == [1, 2, 3, 4, 5]
        time.sleep(0.5)  # the acks reach the server
        server.kill9()
        server.start()
        before = len(got)
        deadline = time.monotonic() + 20
        sent = 0
        while not any(d.offset > 5 for d in got[before:]) and time.monotonic() < deadline:
            try:
                broker.Send(request("kept.a", b"after"), timeout=2)
                sent += 1
            except grpc.RpcError:
                pass
            time.sleep(0.2)
        time.sleep(0.5)
        requests.put(None)
        reader.join(10)
        after = got[before:]
        assert any(d.offset > 5 and d.message.body == b"after" for d in after), after
        # The same consumer, not a new one from the stream's start: nothing
        # before the kill comes again as new (an ack lost with the server
        # may come again, flagged as redelivered).
        assert not [d.offset for d in after if d.offset <= 5 and not d.redelivered], after


def test_a_server_in_lame_duck_mode_hands_its_work_to_the_cluster_peer_it_told_of(sidecar, own):
    # A short lame-duck mode: a 1 s grace, then its few clients closed (30 s
    # is the least duration nats-server 2.9 takes, spread over its clients).
    ldm = 'lame_duck_grace_period: "1s"\nlame_duck_duration: "30s"\n'
    # The route ports are picked free before the servers bind them; under a
    # parallel test run another process may take one meanwhile: new ports.
    for attempt in range(3):
        a_route, b_route = free_port(), free_port()
        a = b = None
        try:
            a = own(config=ldm, extra_args=["--cluster_name", "bs", "--cluster", f"nats://127.0.0.1:{a_route}",
                                            "--routes", f"nats://127.0.0.1:{b_route}"])
            b = own(extra_args=["--cluster_name", "bs", "--cluster", f"nats://127.0.0.1:{b_route}",
                                "--routes", f"nats://127.0.0.1:{a_route}"])
            break
        except RuntimeError:
            if a:
                a.close()
            if attempt == 2:
                raise

    def connect_urls():
        with socket.create_connection(("127.0.0.1", a.port), timeout=2) as s:
            return json.loads(s.makefile("rb").readline()[5:]).get("connect_urls", [])

    deadline = time.monotonic() + 10
    while f"127.0.0.1:{b.port}" not in connect_urls() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert f"127.0.0.1:{b.port}" in connect_urls(), "the cluster did not form"

    got = []
    peer_loop = asyncio.new_event_loop()
    threading.Thread(target=peer_loop.run_forever, daemon=True).start()

    async def subscribe():
        nc = await nats.connect(f"nats://127.0.0.1:{b.port}")

        async def on_message(msg):
            got.append(msg.data)

        await nc.subscribe("ldm.>", cb=on_message)
        await nc.flush()
        return nc

    nc = asyncio.run_coroutine_threadsafe(subscribe(), peer_loop).result(10)
    time.sleep(0.3)  # the subscription reaches A through the route
    s = sidecar("--target", f"events=nats://127.0.0.1:{a.port}", "--targets.events.pool.min_idle=1",
                "--targets.events.retry.max_retries=5")
    with s.channel() as channel:
        broker = pb_grpc.BrokerStub(channel)
        assert broker.Send(request("ldm.first", b"0"), timeout=10).WhichOneof("outcome") == "published"
        urls = broker.Stats(pb.StatsRequest(target="events"), timeout=5).targets[0].urls
        assert any(u.startswith(f"nats://127.0.0.1:{b.port} (told of by") for u in urls), urls
        os.kill(a.proc.pid, signal.SIGUSR2)  # lame-duck mode
        sent, failed = 1, []
        started = time.monotonic()
        deadline = started + 40
        while time.monotonic() < deadline and (a.proc.poll() is None or sent < 60):
            try:
                broker.Send(request("ldm.next", str(sent).encode()), timeout=5)
            except grpc.RpcError as e:
                failed.append(e.details())
            sent += 1
            time.sleep(0.05)
        assert a.proc.poll() is not None, "A did not finish its lame-duck mode"
        print(f"A exited {time.monotonic() - started:.1f} s after lame-duck mode began; {sent} publishes")
        assert not failed, failed[:3]
        stats = broker.Stats(pb.StatsRequest(target="events"), timeout=5).targets[0]
        assert all(c.url.startswith(f"nats://127.0.0.1:{b.port}") for c in stats.connections), stats.connections
        # Moved before A closed it: no attempt lost its connection, no connect went to A.
        assert (stats.counters.retries, stats.counters.connect_failures) == (0, 0), stats.counters
    deadline = time.monotonic() + 5
    while len(got) < sent and time.monotonic() < deadline:
        time.sleep(0.05)
    asyncio.run_coroutine_threadsafe(nc.close(), peer_loop).result(10)
    peer_loop.call_soon_threadsafe(peer_loop.stop)
    assert len(got) == sent, (len(got), sent)
