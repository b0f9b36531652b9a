"""R6: passwords, caller tokens and private keys never leave the sidecar. A Redis and a RabbitMQ of the
test's own require passwords (and a Redis without HELLO, for the RESP2 AUTH
path); the sidecar gets them in URLs (one with '@', ':' and '#' in it),
from a password_file and from password_env, and also wrong ones; URLs with
an unencoded '/' or '?' in the password are refused without being echoed. It runs at log level trace with gRPC's own debug log routed in;
the test makes it connect, fail to authenticate, lose a broker and reconnect,
serve Send, SendStream, Recv, leases, health and Stats, and answers on every
admin path, then greps everything it captured — stderr, every response and
status text, /metrics, /readyz, /healthz, --check-config and a configuration
error — for every password. (sidecar/test_process.py has a quicker version
of this against brokers that are not there.)"""

import hashlib
import os
import subprocess
import time
import urllib.error
import urllib.request
import uuid

import grpc
import pytest
import yaml
from grpc_health.v1 import health_pb2, health_pb2_grpc

from brokerside.v1 import brokerside_pb2 as pb
from brokerside.v1 import brokerside_pb2_grpc as pb_grpc
from conftest import run_binary
from own_brokers import OwnRabbit, OwnRedis

TAG = uuid.uuid4().hex[:10]
SECRETS = {
    "redis_url": f"Rurl@{TAG}:x#y",  # '@', ':' and '#' inside: the parser and redaction must cope
    "redis_file": f"Rfile{TAG}",
    "redis_env": f"Renv{TAG}",
    "redis_wrong": f"Rwrong{TAG}",
    "amqp_url": f"Aurl{TAG}",
    "amqp_file": f"Afile{TAG}",
    "amqp_wrong": f"Awrong{TAG}",
    "old_redis": f"Rold{TAG}",  # a server without HELLO: the RESP2 AUTH path
    "old_redis_wrong": f"Roldwrong{TAG}",
    "malformed": f"Mal{TAG}",  # in URLs with an unencoded '/' or '?' in the password
}


def http_get(port, path):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
            return r.read().decode()
    except urllib.error.HTTPError as e:
        return f"{e.code} {e.read().decode()}"


@pytest.fixture
def brokers_with_passwords(tmp_path):
    r = OwnRedis(tmp_path, extra_args=[
        "--requirepass", SECRETS["redis_url"],
        "--user", "filer", "on", f">{SECRETS['redis_file']}", "~*", "&*", "+@all",
        "--user", "enver", "on", f">{SECRETS['redis_env']}", "~*", "&*", "+@all"])
    old = OwnRedis(tmp_path, name="old-redis", extra_args=[
        "--requirepass", SECRETS["old_redis"], "--rename-command", "HELLO", ""])
    rabbit = None
    try:
        rabbit = OwnRabbit(tmp_path, conf=["default_user = app", f"default_pass = {SECRETS['amqp_url']}"],
                           user="app", password=SECRETS["amqp_url"])
        rabbit.ctl("add_user", "filer", SECRETS["amqp_file"])
        rabbit.ctl("set_permissions", "filer", ".*", ".*", ".*")
        yield r, old, rabbit
    finally:
        if rabbit:
            rabbit.close()
        old.close()
        r.close()


def test_passwords_appear_nowhere(sidecar, brokers_with_passwords, tmp_path):
    redis_server, old_redis, rabbit = brokers_with_passwords
    (tmp_path / "redis.pw").write_text(SECRETS["redis_file"] + "\n")
    (tmp_path / "amqp.pw").write_text(SECRETS["amqp_file"] + "\n")
    rp, op, ap = redis_server.port, old_redis.port, rabbit.port
    config = tmp_path / "brokerside.yaml"
    config.write_text(f"""
readiness: {{required_targets: [r_url, r_wrong, r_old_wrong, a_wrong]}}
targets:
  r_url: {{url: 'redis://:{SECRETS['redis_url']}@127.0.0.1:{rp}/0'}}
  r_file: {{url: 'redis://filer@127.0.0.1:{rp}', password_file: '{tmp_path / 'redis.pw'}'}}
  r_env: {{url: 'redis://enver@127.0.0.1:{rp}', password_env: BROKERSIDE_TEST_PW}}
  r_wrong: {{url: 'redis://:{SECRETS['redis_wrong']}@127.0.0.1:{rp}', retry: {{max_retries: 0}}}}
  r_old: {{url: 'redis://:{SECRETS['old_redis']}@127.0.0.1:{op}'}}
  r_old_wrong: {{url: 'redis://:{SECRETS['old_redis_wrong']}@127.0.0.1:{op}', retry: {{max_retries: 0}}}}
  a_url: {{url: 'amqp://app:{SECRETS['amqp_url']}@127.0.0.1:{ap}/%2f'}}
  a_file: {{url: 'amqp://filer@127.0.0.1:{ap}/%2f', password_file: '{tmp_path / 'amqp.pw'}'}}
  a_wrong: {{url: 'amqp://app:{SECRETS['amqp_wrong']}@127.0.0.1:{ap}/%2f', retry: {{max_retries: 0}}}}
""")
    os.environ["BROKERSIDE_TEST_PW"] = SECRETS["redis_env"]
    try:
        s = sidecar(f"--config={config}", "--log-level=trace")
    finally:
        del os.environ["BROKERSIDE_TEST_PW"]
    captured = []
    good = ("r_url", "r_file", "r_env", "r_old", "a_url", "a_file")
    with s.channel() as channel:
        broker = pb_grpc.BrokerStub(channel)
        health = health_pb2_grpc.HealthStub(channel)

        def call(what, *args, **kwargs):
            try:
                captured.append(str(what(*args, **kwargs)))
                return "OK"
            except grpc.RpcError as e:
                captured.append(f"{e.code().name}: {e.details()}")
                return e.code().name

        outcomes = {}
        for name in ("r_url", "r_file", "r_env", "r_wrong", "r_old", "r_old_wrong"):
            outcomes[name] = call(broker.Send, pb.SendRequest(target=name, command=pb.Command(
                args=[b"SET", f"k:{name}".encode(), b"v"])), timeout=10)
            call(broker.Send, pb.SendRequest(target=name, command=pb.Command(args=[b"ACL", b"WHOAMI"])), timeout=10)
        for name in ("a_url", "a_file", "a_wrong"):
            outcomes[name] = call(broker.Send, pb.SendRequest(target=name, command=pb.Command(
                args=[b"queue.declare", b"secrets.q"])), timeout=10)
            call(broker.Send, pb.SendRequest(target=name, publish=pb.Publish(
                routing_key="secrets.q", message=pb.Message(body=b"m"))), timeout=10)
        assert all(outcomes[n] == "OK" for n in good), outcomes
        # A refused login is PERMISSION_DENIED, at once: retrying would not change it.
        assert {outcomes[n] for n in ("r_wrong", "r_old_wrong", "a_wrong")} == {"PERMISSION_DENIED"}, outcomes

        # Leases (their holders in Stats), SendStream, Recv, health of each target.
        for name in ("r_url", "a_url", "r_wrong"):
            lease = broker.Acquire(pb.AcquireRequest(target=name), timeout=10).lease if name != "r_wrong" else ""
            if lease:
                captured.append(str(broker.Stats(pb.StatsRequest(target=name), timeout=10)))
                broker.Release(pb.ReleaseRequest(lease=lease), timeout=10)
            else:
                call(broker.Acquire, pb.AcquireRequest(target=name), timeout=10)
        requests = [pb.SendStreamRequest(id=i, send=pb.SendRequest(target=name, command=pb.Command(args=[b"PING"])))
                    for i, name in enumerate(("r_url", "r_wrong", "r_file"))]
        captured += [str(r) for r in broker.SendStream(iter(requests), timeout=20)]
        for name, source in (("r_url", "news"), ("a_file", "secrets.q"), ("a_wrong", "secrets.q")):
            def requests_of(subscribe):
                yield pb.RecvRequest(subscribe=subscribe)
            stream = broker.Recv(requests_of(pb.Subscribe(target=name, sources=[source])), timeout=2)
            try:
                captured += [str(r) for r in stream]
            except grpc.RpcError as e:
                captured.append(f"{e.code().name}: {e.details()}")
        for name in ("", *good, "r_wrong", "r_old_wrong", "a_wrong"):
            call(health.Check, health_pb2.HealthCheckRequest(service=name), timeout=10)

        # The broker goes away and comes back: reconnects, with their logs.
        redis_server.kill9()
        call(broker.Send, pb.SendRequest(target="r_url", command=pb.Command(args=[b"GET", b"k:r_url"])), timeout=2)
        redis_server.start()
        call(broker.Send, pb.SendRequest(target="r_url", command=pb.Command(args=[b"GET", b"k:r_url"])), timeout=10)

        captured.append(str(broker.Stats(pb.StatsRequest(), timeout=10)))
        for path in ("/metrics", "/readyz", "/healthz", "/", "/nope", "/metrics?x=1"):
            captured.append(http_get(s.admin_port, path))

    s.terminate()
    assert s.wait(timeout=30) == 0
    log = s.log()
    captured.append(log)

    # Outside the running process: --check-config, and an error in a target
    # with a password in its URL.
    env = dict(os.environ, BROKERSIDE_TEST_PW=SECRETS["redis_env"])
    captured += run_binary(f"--config={config}", "--check-config", env=env)[1:]
    captured += run_binary(f"--config={config}", "--targets.r_url.pool.max_connections=0", env=env)[1:]
    captured += run_binary(f"--config={config}", "--targets.a_url.url=amqp://app:"
                           f"{SECRETS['amqp_url']}@127.0.0.1:0/%2f", env=env)[1:]

    # URLs whose password has an unencoded '/' or '?': refused, not echoed.
    for url in (f"amqp://app:1234/{SECRETS['malformed']}@127.0.0.1", f"redis://u:{SECRETS['malformed']}/x@h:1",
                f"amqp://app:1234?{SECRETS['malformed']}@127.0.0.1"):
        code, out, err = run_binary("--target", f"x={url}", "--check-config")
        assert code == 2 and "an '@' after the host" in err, (url, code, out, err)
        captured += [out, err]

    everything = "\n".join(captured)
    found = {name: everything.count(secret) for name, secret in SECRETS.items()}
    redacted = everything.count(":***@")
    print(f"\ncaptured {len(everything)} characters ({len(log.splitlines())} log lines at trace level), "
          f"{redacted} redacted URLs; secrets found: {found}")
    # What was captured is real: the failures are there, named.
    assert "WRONGPASS" in everything and "ACCESS_REFUSED" in everything
    assert "r_wrong" in log and "a_wrong" in log
    assert redacted > 0
    # Every password holds TAG, which nothing else does: not even a piece of one may show.
    assert TAG not in everything, f"a password leaked: ...{context(everything, TAG)}..."
    for name, secret in SECRETS.items():
        assert secret not in everything, f"the {name} password leaked: ...{context(everything, secret)}..."


def context(text, secret, width=120):
    at = text.find(secret)
    return text[max(0, at - width):at + len(secret) + width]


KEY = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"


def make_pki(directory):
    """A CA, a server certificate for 127.0.0.1 and a client certificate."""
    def openssl(command):
        subprocess.run(command.split(), cwd=directory, check=True, capture_output=True)
    openssl(f"openssl req -x509 {KEY} -keyout ca.key -out ca.pem -days 1 -subj /CN=secrets-ca")
    for name, san in (("server", "subjectAltName=IP:127.0.0.1"), ("client", "subjectAltName=URI:spiffe://t/c")):
        (directory / f"{name}.ext").write_text(san)
        openssl(f"openssl req {KEY} -keyout {name}.key -out {name}.csr -subj /CN={name}")
        openssl(f"openssl x509 -req -in {name}.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 "
                f"-extfile {name}.ext -out {name}.pem")


def test_caller_tokens_and_listener_keys_appear_nowhere(sidecar, brokers, tmp_path):
    """Bearer tokens (good, wrong, revoked, in the wrong metadata key, in
    clear in a broken tokens file) and the listener's private keys: nowhere
    in the log at trace level, any answer, Stats, /metrics or an error."""
    tokens = {"app": f"Tapp{TAG}", "ops": f"Tops{TAG}", "wrong": f"Twrong{TAG}", "clear": f"Tclear{TAG}"}
    make_pki(tmp_path)
    line = lambda name: f"{name} sha256:{hashlib.sha256(tokens[name].encode()).hexdigest()}\n"
    tokens_file = tmp_path / "tokens"
    tokens_file.write_text(line("app") + line("ops"))
    config = tmp_path / "brokerside.yaml"
    config.write_text(yaml.safe_dump({
        "listen": {"tls": {"cert_file": str(tmp_path / "server.pem"), "key_file": str(tmp_path / "server.key"),
                           "client_ca_file": str(tmp_path / "ca.pem"), "reload_interval": "1s"}},
        "auth": {"tokens_file": str(tokens_file)},
        "quotas": [{"callers": ["token:ops"], "operations_per_second": 1, "burst": "1s"}],
        "targets": {"cache": {"url": brokers["BROKERSIDE_REDIS_URL"],
                              "rules": [{"callers": ["token:*"], "commands": ["+@read", "+ping"]}]}}}))
    credentials = grpc.ssl_channel_credentials(*((tmp_path / n).read_bytes() for n in ("ca.pem", "client.key",
                                                                                       "client.pem")))
    s = sidecar(f"--config={config}", "--log-level=trace", credentials=credentials)
    captured = []
    with s.channel() as channel:
        broker = pb_grpc.BrokerStub(channel)

        def call(metadata, *args):
            try:
                captured.append(str(broker.Send(pb.SendRequest(target="cache", command=pb.Command(args=list(args))),
                                                metadata=metadata, timeout=10)))
                return "OK"
            except grpc.RpcError as e:
                captured.append(f"{e.code().name}: {e.details()}")
                return e.code().name

        bearer = lambda name: (("authorization", f"Bearer {tokens[name]}"),)
        outcomes = [call(bearer("app"), b"PING"), call(bearer("wrong"), b"PING"),
                    call((("x-token", tokens["app"]),), b"PING"), call((("authorization", tokens["app"]),), b"PING"),
                    call(bearer("app"), b"FLUSHALL"), call(bearer("ops"), b"PING"), call(bearer("ops"), b"PING")]
        # (The third is named by its client certificate, which no rule names.)
        assert outcomes == ["OK", "UNAUTHENTICATED", "PERMISSION_DENIED", "UNAUTHENTICATED", "PERMISSION_DENIED",
                            "OK", "RESOURCE_EXHAUSTED"], outcomes
        # Revoked: app's line gone; a half-written file holding a token in clear.
        tokens_file.write_text(f"clear {tokens['clear']}\n")
        time.sleep(1.2)
        call(bearer("app"), b"PING")
        tokens_file.write_text(line("ops"))
        deadline = time.monotonic() + 5
        while call(bearer("app"), b"PING") != "UNAUTHENTICATED":
            assert time.monotonic() < deadline, "the revoked token still works"
            time.sleep(0.1)
        captured.append(str(broker.Stats(pb.StatsRequest(), metadata=bearer("ops"), timeout=10)))
        for path in ("/metrics", "/readyz", "/healthz"):
            captured.append(http_get(s.admin_port, path))
    s.terminate()
    assert s.wait(timeout=30) == 0
    captured.append(s.log())
    # A tokens file with a token in clear, and a key that is not the certificate's, at startup.
    bad = tmp_path / "bad-tokens"
    bad.write_text(f"app {tokens['clear']}\n")
    captured += run_binary(f"--config={config}", f"--auth.tokens_file={bad}", "--check-config")[1:]
    captured += run_binary(f"--config={config}", f"--listen.tls.key_file={tmp_path / 'client.key'}",
                           "--check-config")[1:]

    everything = "\n".join(captured)
    assert "token:app" in everything and "(targets.cache.rules[0].commands)" in everything
    assert "quotas[0].operations_per_second" in everything and "brokerside_caller_" in everything
    for name, token in tokens.items():
        assert token not in everything, f"the {name} token leaked: ...{context(everything, token)}..."
    for key in ("server.key", "client.key", "ca.key"):
        body = [l for l in (tmp_path / key).read_text().splitlines() if l and not l.startswith("-----")]
        for piece in body:
            assert piece not in everything, f"{key} leaked"
    print(f"\ncaptured {len(everything)} characters; no token, no piece of a private key")
