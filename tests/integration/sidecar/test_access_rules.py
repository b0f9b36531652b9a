"""What each caller may reach, and how much: a matrix of callers x targets x
operations x destinations where every call is allowed or refused exactly as
targets.NAME.rules say (destinations by '*' glob, Redis commands by ACL-style
classes), counted per caller in Stats and /metrics; quotas per caller
(operations and bytes per second held within 10 % over 5 s, in-flight
operations, open streams); a Unix socket client of another uid named by its
credentials."""

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import grpc
import pytest
import yaml

from brokerside.v1 import brokerside_pb2 as pb
from brokerside.v1 import brokerside_pb2_grpc as pb_grpc
from conftest import http_get

TOKENS = {"web": "web-token-3f1a9d", "ops": "ops-token-77c2e0", "guest": "guest-token-0b9e41",
          "batch": "batch-token-5d20c7", "bulk": "bulk-token-a6e3f8", "held": "held-token-c41b77"}


def write_config(tmp_path, settings):
    tokens = tmp_path / "tokens"
    tokens.write_text("".join(f"{name} sha256:{hashlib.sha256(t.encode()).hexdigest()}\n"
                              for name, t in TOKENS.items()))
    path = tmp_path / "brokerside.yaml"
    path.write_text(yaml.safe_dump({"auth": {"tokens_file": str(tokens)}, **settings}))
    return path


def as_caller(name):
    return (("authorization", f"Bearer {TOKENS[name]}"),)


def command(*args, **options):
    return pb.Command(args=[a.encode() if isinstance(a, str) else a for a in args], options=options)


class Matrix:
    """Runs each case as each caller; checks allowed / refused by which
    setting; counts."""

    def __init__(self, stub):
        self.stub, self.allowed, self.denied = stub, 0, 0
        self.denials = {}  # caller -> {rule kind: count}

    def send(self, request, caller):
        return self.stub.Send(request, metadata=as_caller(caller), timeout=10)

    def subscribe(self, target, source, caller):
        """The first message of a Recv stream (Subscribed), then the stream
        is cancelled."""
        done = threading.Event()

        def requests():
            yield pb.RecvRequest(subscribe=pb.Subscribe(target=target, sources=[source], credit=1))
            done.wait(10)

        stream = self.stub.Recv(requests(), metadata=as_caller(caller), timeout=10)
        try:
            first = next(stream)
            assert first.HasField("subscribed"), first
        finally:
            done.set()
            stream.cancel()

    def acquire(self, target, caller):
        lease = self.stub.Acquire(pb.AcquireRequest(target=target), metadata=as_caller(caller), timeout=10).lease
        self.stub.Release(pb.ReleaseRequest(lease=lease), metadata=as_caller(caller), timeout=10)

    def check(self, label, call, expected):
        """`expected`: caller -> None (allowed) or the setting named in the
        refusal, e.g. "targets.cache.rules[0].commands"."""
        for caller, setting in expected.items():
            if setting is None:
                call(caller)
                self.allowed += 1
                continue
            with pytest.raises(grpc.RpcError) as e:
                call(caller)
            assert e.value.code() == grpc.StatusCode.PERMISSION_DENIED, (label, caller, e.value)
            assert e.value.details().endswith(f"({setting})"), (label, caller, e.value.details())
            assert f"'token:{caller}'" in e.value.details() and TOKENS[caller] not in e.value.details()
            kind = setting.rsplit(".", 1)[-1] if "rules[" in setting else setting.split(".", 2)[2]
            kind = {"send": "allow.send", "recv": "allow.recv", "acquire": "allow.acquire"}.get(kind, kind)
            self.denials.setdefault(f"token:{caller}", {}).setdefault(kind, 0)
            self.denials[f"token:{caller}"][kind] += 1
            self.denied += 1


def test_every_call_is_allowed_or_refused_as_the_rules_say(sidecar, brokers, tmp_path):
    run = uuid.uuid4().hex[:8]
    path = write_config(tmp_path, {"targets": {
        "cache": {"url": brokers["BROKERSIDE_REDIS_URL"],
                  "allow": {"send": ["token:*"], "recv": ["token:web", "token:ops"], "acquire": ["token:ops"]},
                  "rules": [{"callers": ["token:web"], "destinations": ["orders.*"],
                             "commands": ["+@read", "+@write", "-@dangerous", "+publish"]},
                            {"callers": ["token:ops", "token:batch"], "commands": ["+@all", "-flushall", "-flushdb"]}]},
        "events": {"url": brokers["BROKERSIDE_AMQP_URL"],
                   "rules": [{"callers": ["token:web"], "destinations": ["orders.*", "amq.topic"]},
                             {"callers": ["token:ops"]}]}}})
    s = sidecar(f"--config={path}")
    with s.channel() as channel:
        stub = pb_grpc.BrokerStub(channel)
        m = Matrix(stub)
        cache, events = "targets.cache", "targets.events"
        key, queue = f"bs-rules-{run}", f"orders.{run}"
        on_cache = lambda op, **kw: (lambda caller: m.send(pb.SendRequest(target="cache", **{op: kw["value"]}), caller))
        cmd = lambda *args: on_cache("command", value=command(*args))
        pub = lambda channel_: on_cache("publish", value=pb.Publish(destination=channel_, message=pb.Message(body=b"x")))

        # Redis commands: classes, names, subcommands, a channel named by PUBLISH.
        m.check("SET", cmd("SET", key, "v"), {"web": None, "ops": None, "batch": None, "guest": f"{cache}.rules"})
        m.check("GET", cmd("GET", key), {"web": None, "ops": None, "guest": f"{cache}.rules"})
        m.check("KEYS (@dangerous)", cmd("KEYS", f"bs-rules-none-{run}-*"),
                {"web": f"{cache}.rules[0].commands", "ops": None})
        m.check("CONFIG GET (@admin)", cmd("CONFIG", "GET", "maxmemory"),
                {"web": f"{cache}.rules[0].commands", "ops": None})
        m.check("FLUSHALL", cmd("FLUSHALL"), {"web": f"{cache}.rules[0].commands",
                                              "ops": f"{cache}.rules[1].commands", "guest": f"{cache}.rules"})
        m.check("FLUSHDB (lower case)", cmd("flushdb"), {"ops": f"{cache}.rules[1].commands"})
        m.check("PUBLISH orders", cmd("PUBLISH", f"orders.{run}", "x"), {"web": None, "ops": None})
        m.check("PUBLISH secret", cmd("PUBLISH", f"secret.{run}", "x"),
                {"web": f"{cache}.rules[0].destinations", "ops": None})
        m.check("publish orders", pub(f"orders.{run}"), {"web": None, "ops": None, "guest": f"{cache}.rules"})
        m.check("publish secret", pub(f"secret.{run}"), {"web": f"{cache}.rules[0].destinations", "ops": None})
        # Recv: each source against the destinations; the allow list first.
        m.check("subscribe orders", lambda c: m.subscribe("cache", f"orders.{run}", c),
                {"web": None, "ops": None, "guest": f"{cache}.allow.recv", "batch": f"{cache}.allow.recv"})
        m.check("subscribe secret", lambda c: m.subscribe("cache", f"secret.{run}", c),
                {"web": f"{cache}.rules[0].destinations", "ops": None})
        # A pattern is matched as written: "*" would reach every channel.
        m.check("subscribe a pattern", lambda c: m.subscribe("cache", "*", c),
                {"web": f"{cache}.rules[0].destinations", "ops": None})
        m.check("acquire", lambda c: m.acquire("cache", c),
                {"web": f"{cache}.allow.acquire", "ops": None, "guest": f"{cache}.allow.acquire"})

        # AMQP: a publish's exchange, or its routing key on the default exchange (the queue).
        stub.Send(pb.SendRequest(target="events", command=command("queue.declare", queue)),
                  metadata=as_caller("ops"), timeout=10)
        amqp = lambda exchange, key_: (lambda caller: m.send(pb.SendRequest(target="events", publish=pb.Publish(
            destination=exchange, routing_key=key_, message=pb.Message(body=b"x"))), caller))
        m.check("publish to a queue", amqp("", queue), {"web": None, "ops": None, "guest": f"{events}.rules"})
        m.check("publish to amq.topic", amqp("amq.topic", "any.key"), {"web": None, "ops": None})
        m.check("publish to amq.direct", amqp("amq.direct", queue),
                {"web": f"{events}.rules[0].destinations", "ops": None})
        m.check("publish to another queue", amqp("", f"billing.{run}"),
                {"web": f"{events}.rules[0].destinations", "ops": None})
        m.check("consume orders", lambda c: m.subscribe("events", queue, c),
                {"web": None, "ops": None, "guest": f"{events}.rules"})
        m.check("consume another", lambda c: m.subscribe("events", f"billing.{run}", c),
                {"web": f"{events}.rules[0].destinations"})
        # A SendStream's operations each meet their rule; the stream goes on.
        ops = [pb.SendStreamRequest(id=1, send=pb.SendRequest(target="cache", command=command("GET", key))),
               pb.SendStreamRequest(id=2, send=pb.SendRequest(target="cache", command=command("KEYS", "*"))),
               pb.SendStreamRequest(id=3, send=pb.SendRequest(target="cache", publish=pb.Publish(
                   destination=f"secret.{run}", message=pb.Message(body=b"x"))))]
        outcomes = {o.id: o.status for o in stub.SendStream(iter(ops), metadata=as_caller("web"), timeout=10)}
        assert outcomes[1].code == 0
        assert outcomes[2].code == grpc.StatusCode.PERMISSION_DENIED.value[0]
        assert outcomes[2].message.endswith("(targets.cache.rules[0].commands)")
        assert outcomes[3].message.endswith("(targets.cache.rules[0].destinations)")
        m.allowed, m.denied = m.allowed + 1, m.denied + 2
        m.denials["token:web"]["commands"] += 1
        m.denials["token:web"]["destinations"] += 1
        stub.Send(pb.SendRequest(target="events", command=command("queue.delete", queue)),
                  metadata=as_caller("ops"), timeout=10)

        print(f"\nmatrix: {m.allowed + m.denied} calls, {m.allowed} allowed and {m.denied} refused "
              "as the rules say")
        assert (m.allowed, m.denied) == (27, 24)  # every case of the table above ran

        # Every refusal counted for its caller under its setting, in Stats and /metrics.
        callers = {c.identity: c for c in stub.Stats(pb.StatsRequest(), metadata=as_caller("ops"), timeout=5).callers}
        for caller, kinds in m.denials.items():
            assert dict(callers[caller].denied) == kinds, (caller, dict(callers[caller].denied))
        assert callers["token:web"].operations == 7 and callers["token:web"].in_flight == 0  # its Sends allowed
        _, metrics = http_get(s.admin_port, "/metrics")
        assert (f'brokerside_caller_denied_total{{caller="token:web",rule="commands"}} '
                f'{m.denials["token:web"]["commands"]}') in metrics
        assert 'brokerside_caller_operations_total{caller="token:ops"}' in metrics
    log = s.log()
    assert "denied: 'token:" in log
    assert not any(t in log for t in TOKENS.values())


def hammer(stub, request, caller, seconds, threads=4):
    """Sends `request` as fast as `threads` threads can for `seconds`;
    returns the times of the calls that passed and the refusals' texts."""
    passed, refused, lock = [], set(), threading.Lock()
    end = time.monotonic() + seconds

    def loop():
        while time.monotonic() < end:
            try:
                stub.Send(request, metadata=as_caller(caller), timeout=5)
                with lock:
                    passed.append(time.monotonic())
            except grpc.RpcError as e:
                assert e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, e
                with lock:
                    refused.add(e.details())

    workers = [threading.Thread(target=loop) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return passed, refused


def test_rate_quotas_hold_each_caller_within_ten_percent_over_five_seconds(sidecar, brokers, tmp_path):
    path = write_config(tmp_path, {
        "quotas": [{"callers": ["token:batch"], "operations_per_second": 200, "burst": "100ms"},
                   {"callers": ["token:bulk"], "bytes_per_second": "64KiB", "burst": "100ms"}],
        "targets": {"cache": {"url": brokers["BROKERSIDE_REDIS_URL"]}}})
    s = sidecar(f"--config={path}")
    key = f"bs-quota-{uuid.uuid4().hex[:8]}"
    with s.channel() as channel:
        stub = pb_grpc.BrokerStub(channel)
        # Operations: 1 s to spend the burst, then 5 s counted.
        ping = pb.SendRequest(target="cache", command=command("PING"))
        start = time.monotonic()
        passed, refused = hammer(stub, ping, "batch", 6)
        counted = sum(1 for t in passed if t >= start + 1)
        print(f"\noperations_per_second 200: {counted} passed in the 5 s counted ({counted / 5:.0f}/s)")
        assert 900 <= counted <= 1100, counted
        assert refused == {"quota exceeded: 'token:batch' is limited to 200 operations/s "
                           "(quotas[0].operations_per_second)"}
        # Bytes: 1 KiB values (the operation's encoded size is what counts).
        setting = command("SET", key, b"v" * 1024)
        size = setting.ByteSize()
        start = time.monotonic()
        passed, refused = hammer(stub, pb.SendRequest(target="cache", command=setting), "bulk", 6)
        counted = sum(1 for t in passed if t >= start + 1) * size
        print(f"bytes_per_second 64KiB: {counted} bytes passed in the 5 s counted ({counted / 5 / 1024:.1f} KiB/s)")
        assert 0.9 * 5 * 65536 <= counted <= 1.1 * 5 * 65536, counted
        assert len(refused) == 1 and "(quotas[1].bytes_per_second)" in refused.pop()
        # Another caller is not held back by them.
        assert stub.Send(ping, metadata=as_caller("web"), timeout=5).reply.text == "PONG"
        callers = {c.identity: c for c in stub.Stats(pb.StatsRequest(), metadata=as_caller("web"), timeout=5).callers}
        assert callers["token:batch"].throttled["operations_per_second"] > 0
        assert callers["token:bulk"].throttled["bytes_per_second"] > 0
        assert not callers["token:web"].throttled
        _, metrics = http_get(s.admin_port, "/metrics")
        assert 'brokerside_caller_throttled_total{caller="token:batch",quota="operations_per_second"}' in metrics


def test_in_flight_and_stream_quotas_refuse_beyond_the_limit_and_free_on_completion(sidecar, brokers, tmp_path):
    path = write_config(tmp_path, {
        "quotas": [{"callers": ["token:held"], "in_flight": 2, "streams": 1}],
        "targets": {"cache": {"url": brokers["BROKERSIDE_REDIS_URL"]}}})
    s = sidecar(f"--config={path}")
    key = f"bs-quota-{uuid.uuid4().hex[:8]}"
    with s.channel() as channel:
        stub = pb_grpc.BrokerStub(channel)
        lease = stub.Acquire(pb.AcquireRequest(target="cache"), metadata=as_caller("held"), timeout=5).lease
        # Two BLPOPs block on the lease for 2 s: both in flight.
        blocked = [stub.Send.future(pb.SendRequest(target="cache", lease=lease, command=command("BLPOP", key, "2")),
                                    metadata=as_caller("held"), timeout=10) for _ in range(2)]
        time.sleep(0.5)
        get = pb.SendRequest(target="cache", command=command("GET", key))
        with pytest.raises(grpc.RpcError) as e:
            stub.Send(get, metadata=as_caller("held"), timeout=5)
        assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert e.value.details() == ("quota exceeded: 'token:held' is limited to 2 operations in flight "
                                     "(quotas[0].in_flight)")
        assert stub.Send(get, metadata=as_caller("web"), timeout=5)  # others are not held
        for f in blocked:
            f.result()
        assert stub.Send(get, metadata=as_caller("held"), timeout=5)  # freed on completion
        stub.Release(pb.ReleaseRequest(lease=lease), metadata=as_caller("held"), timeout=5)

        # One open stream at a time.
        done = threading.Event()

        def waiting():
            yield pb.SendStreamRequest(id=1, send=get)
            done.wait(10)

        first = stub.SendStream(waiting(), metadata=as_caller("held"), timeout=10)
        assert next(first).id == 1
        second = stub.Recv(iter([pb.RecvRequest(subscribe=pb.Subscribe(target="cache", sources=["q"]))]),
                           metadata=as_caller("held"), timeout=5)
        with pytest.raises(grpc.RpcError) as e:
            list(second)
        assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert e.value.details() == "quota exceeded: 'token:held' is limited to 1 open streams (quotas[0].streams)"
        done.set()
        list(first)
        callers = {c.identity: c for c in stub.Stats(pb.StatsRequest(), metadata=as_caller("web"), timeout=5).callers}
        assert callers["token:held"].streams == 0 and callers["token:held"].in_flight == 0
        assert dict(callers["token:held"].throttled) == {"in_flight": 1, "streams": 1}


CLIENT = """
import sys
sys.path.insert(0, sys.argv[2])
import grpc
from brokerside.v1 import brokerside_pb2 as pb, brokerside_pb2_grpc as pb_grpc
with grpc.insecure_channel("unix:" + sys.argv[1]) as channel:
    try:
        pb_grpc.BrokerStub(channel).Send(pb.SendRequest(target="cache", command=pb.Command(args=[b"PING"])),
                                         timeout=5)
        print("OK")
    except grpc.RpcError as e:
        print(e.code().name, e.details())
"""


def test_a_unix_socket_client_of_another_uid_is_named_by_its_credentials(sidecar, brokers, tmp_path):
    # A directory the other user can reach (pytest's tmp_path is owner-only).
    directory = Path(tempfile.mkdtemp(prefix="bs-unix-"))
    try:
        directory.chmod(0o755)
        socket = directory / "grpc.sock"
        path = write_config(tmp_path, {
            "listen": {"unix_socket": str(socket), "unix_socket_mode": "0666"},
            "targets": {"cache": {"url": brokers["BROKERSIDE_REDIS_URL"],
                                  "allow": {"send": [f"unix:uid={os.getuid()},*"]}}}})
        s = sidecar(f"--config={path}")
        # The generated stubs, where the other user can read them.
        stubs = directory / "stubs"
        shutil.copytree(Path(pb.__file__).parent.parent.parent, stubs)
        for d, _, files in os.walk(stubs):
            os.chmod(d, 0o755)
            for f in files:
                os.chmod(os.path.join(d, f), 0o644)
        script = directory / "client.py"
        script.write_text(CLIENT)
        script.chmod(0o644)

        def run_as(uid):
            preexec = (lambda: (os.setgid(uid), os.setgroups([]), os.setuid(uid))) if uid is not None else None
            done = subprocess.run([sys.executable, str(script), str(socket), str(stubs)], capture_output=True,
                                  text=True, timeout=60, preexec_fn=preexec)
            assert done.returncode == 0, done.stderr
            return done.stdout.strip()

        assert run_as(None) == "OK"
        nobody = 65534
        assert run_as(nobody) == (f"PERMISSION_DENIED 'unix:uid={nobody},gid={nobody}' may not send on target "
                                  "'cache' (targets.cache.allow.send)")
        leases = pb_grpc.BrokerStub(grpc.insecure_channel(f"unix:{socket}"))
        assert leases.Acquire(pb.AcquireRequest(target="cache"), timeout=5).lease
        holders = [l.holder for t in leases.Stats(pb.StatsRequest(), timeout=5).targets for l in t.leases]
        assert holders and holders[0].startswith(f"unix:pid={os.getpid()},uid={os.getuid()}")
        s.terminate()
        assert s.wait(20) == 0
        assert not socket.exists()
    finally:
        shutil.rmtree(directory, ignore_errors=True)
