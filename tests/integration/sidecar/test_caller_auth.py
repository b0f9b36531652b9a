"""Who may call: callers named by a bearer token (checked against the
SHA-256 hashes of auth.tokens_file, re-read when the file changes) or by
their mTLS certificate (its SPIFFE ID); each target's allow lists for send,
recv and acquire refuse the others with PERMISSION_DENIED naming the rule;
a wrong or missing token is UNAUTHENTICATED without the token in any
answer; health stays open."""

import hashlib
import os
import time

import grpc
import pytest
import yaml
from grpc_health.v1 import health_pb2, health_pb2_grpc

from brokerside.v1 import brokerside_pb2 as pb
from brokerside.v1 import brokerside_pb2_grpc as pb_grpc
from conftest import run_binary, wait_for
from test_listener_tls import credentials, pki, tls_args  # noqa: F401 (pki is a fixture)

APP, OPS = "app-token-1b7e", "ops-token-9c2d"


def tokens_line(name, token):
    return f"{name} sha256:{hashlib.sha256(token.encode()).hexdigest()}\n"


@pytest.fixture
def tokens(tmp_path):
    path = tmp_path / "tokens"
    path.write_text("# callers\n" + tokens_line("app", APP) + tokens_line("ops", OPS))
    return path


def config(tmp_path, tokens, redis_url, extra=None):
    c = {"auth": {"tokens_file": str(tokens)},
         "targets": {
             "cache": {"url": redis_url,
                       "allow": {"send": ["token:app", "token:ops"], "recv": ["token:ops"], "acquire": []}},
             "open": {"url": redis_url}}}
    c.update(extra or {})
    path = tmp_path / "brokerside.yaml"
    path.write_text(yaml.safe_dump(c))
    return path


def as_caller(token):
    return (("authorization", f"Bearer {token}"),) if token else ()


def ping(stub, token, target="cache"):
    return stub.Send(pb.SendRequest(target=target, command=pb.Command(args=[b"PING"])),
                     metadata=as_caller(token), timeout=5)


def code_and_details(call):
    with pytest.raises(grpc.RpcError) as e:
        call()
    return e.value.code(), e.value.details()


def test_tokens_name_callers_and_the_allow_lists_decide(sidecar, brokers, tmp_path, tokens):
    s = sidecar(f"--config={config(tmp_path, tokens, brokers['BROKERSIDE_REDIS_URL'])}")
    with s.channel() as channel:
        stub = pb_grpc.BrokerStub(channel)
        assert ping(stub, APP).reply.text == "PONG"
        assert ping(stub, APP, target="open").reply.text == "PONG"  # no allow lists: any caller
        # Health and reflection ask nobody.
        assert health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5).status == \
            health_pb2.HealthCheckResponse.SERVING
        for token in (None, "not-a-token"):
            code, details = code_and_details(lambda: ping(stub, token))
            assert code == grpc.StatusCode.UNAUTHENTICATED and "not-a-token" not in details
        code, details = code_and_details(lambda: stub.Stats(pb.StatsRequest(), timeout=5))
        assert code == grpc.StatusCode.UNAUTHENTICATED
        assert stub.Stats(pb.StatsRequest(), metadata=as_caller(APP), timeout=5).targets

        # Acquire: nobody on cache.
        code, details = code_and_details(lambda: stub.Acquire(
            pb.AcquireRequest(target="cache"), metadata=as_caller(OPS), timeout=5))
        assert (code, details) == (grpc.StatusCode.PERMISSION_DENIED,
                                   "'token:ops' may not acquire on target 'cache' (targets.cache.allow.acquire)")
        assert stub.Acquire(pb.AcquireRequest(target="open"), metadata=as_caller(OPS), timeout=5).lease

        # Recv: ops only; app's stream ends at its subscribe.
        def subscribe(token):
            stream = stub.Recv(iter([pb.RecvRequest(subscribe=pb.Subscribe(target="cache", sources=["auth:news"]))]),
                               metadata=as_caller(token), timeout=5)
            return [r.WhichOneof("kind") for r in stream]
        code, details = code_and_details(lambda: subscribe(APP))
        assert (code, details) == (grpc.StatusCode.PERMISSION_DENIED,
                                   "'token:app' may not recv on target 'cache' (targets.cache.allow.recv)")

        # SendStream: each operation on its own target's rule; the stream goes on.
        requests = [pb.SendStreamRequest(id=1, send=pb.SendRequest(target="cache", command=pb.Command(args=[b"PING"]))),
                    pb.SendStreamRequest(id=2, send=pb.SendRequest(target="open", command=pb.Command(args=[b"PING"])))]
        outcomes = {o.id: o for o in stub.SendStream(iter(requests), metadata=as_caller(APP), timeout=5)}
        assert outcomes[1].status.code == 0 and outcomes[2].status.code == 0
    assert "app-token" not in s.log() and "ops-token" not in s.log()
    assert "denied: 'token:ops' may not acquire on target 'cache'" in s.log()


def test_a_token_anywhere_but_authorization_bearer_names_no_one(sidecar, brokers, tmp_path, tokens):
    s = sidecar(f"--config={config(tmp_path, tokens, brokers['BROKERSIDE_REDIS_URL'])}")
    with s.channel() as channel:
        stub = pb_grpc.BrokerStub(channel)
        request = pb.SendRequest(target="open", command=pb.Command(args=[b"PING"]))
        for metadata, expected in [
            ((("x-api-key", f"Bearer {APP}"),), "who is calling?"),
            ((("authorization-token", APP),), "who is calling?"),
            ((("token", APP),), "who is calling?"),
            ((("authorization", APP),), 'authorization: expected "Bearer TOKEN"'),
            ((("authorization", f"Basic {APP}"),), 'authorization: expected "Bearer TOKEN"'),
            ((("authorization", f"bearer {APP}"),), 'authorization: expected "Bearer TOKEN"'),
        ]:
            code, details = code_and_details(lambda: stub.Send(request, metadata=metadata, timeout=5))
            assert code == grpc.StatusCode.UNAUTHENTICATED and details.startswith(expected), (metadata, details)
            assert APP not in details
        assert stub.Send(request, metadata=as_caller(APP), timeout=5).reply.text == "PONG"
    assert APP not in s.log()


def test_a_changed_tokens_file_is_read_again_and_a_broken_one_keeps_the_last(sidecar, brokers, tmp_path, tokens):
    s = sidecar(f"--config={config(tmp_path, tokens, brokers['BROKERSIDE_REDIS_URL'])}")
    with s.channel() as channel:
        stub = pb_grpc.BrokerStub(channel)
        assert ping(stub, APP, target="open").reply.text == "PONG"
        # A half-written file: the tokens read before still hold.
        tokens.write_text("app sha256:12\n")
        time.sleep(1.2)
        assert ping(stub, APP, target="open").reply.text == "PONG"
        # Rotated: app's token gone, a new one in.
        tokens.write_text(tokens_line("app", "rotated-token-55ab"))

        def rotated():
            try:
                ping(stub, APP, target="open")
                return False
            except grpc.RpcError as e:
                return e.code() == grpc.StatusCode.UNAUTHENTICATED
        assert wait_for(rotated, timeout=5)
        assert ping(stub, "rotated-token-55ab", target="open").reply.text == "PONG"
    assert "line 1: expected sha256: and 64 hex digits" in s.log()


def test_a_client_certificate_names_the_caller(sidecar, brokers, tmp_path, pki):  # noqa: F811
    path = tmp_path / "brokerside.yaml"
    path.write_text(yaml.safe_dump({"targets": {
        "cache": {"url": brokers["BROKERSIDE_REDIS_URL"],
                  "allow": {"send": ["spiffe://test/ns/orders/*"], "recv": ["spiffe://test/ns/billing/*"]}}}}))
    args = tls_args(pki)[2:]  # (without its --target)
    s = sidecar(f"--config={path}", *args, credentials=credentials(pki))
    with s.channel() as channel:
        stub = pb_grpc.BrokerStub(channel)
        assert ping(stub, None).reply.text == "PONG"
        stream = stub.Recv(iter([pb.RecvRequest(subscribe=pb.Subscribe(target="cache", sources=["c:news"]))]),
                           timeout=5)
        code, details = code_and_details(lambda: list(stream))
        assert (code, details) == (grpc.StatusCode.PERMISSION_DENIED,
                                   "'spiffe://test/ns/orders/sa/app' may not recv on target 'cache' "
                                   "(targets.cache.allow.recv)")


def test_callers_on_the_unix_socket_are_named_by_uid_unless_they_send_a_token(sidecar, brokers, tmp_path, tokens):
    socket = tmp_path / "grpc.sock"
    s = sidecar(f"--config={config(tmp_path, tokens, brokers['BROKERSIDE_REDIS_URL'])}", f"--unix-socket={socket}")
    me = f"unix:uid={os.getuid()},gid={os.getgid()}"
    with grpc.insecure_channel(f"unix:{socket}") as channel:
        stub = pb_grpc.BrokerStub(channel)
        # The socket's permissions admitted it: no token needed, named by
        # the peer's credentials.
        assert ping(stub, None, target="open").reply.text == "PONG"
        code, details = code_and_details(lambda: ping(stub, None))
        assert (code, details) == (grpc.StatusCode.PERMISSION_DENIED,
                                   f"'{me}' may not send on target 'cache' (targets.cache.allow.send)")
        assert ping(stub, APP).reply.text == "PONG"  # a token names it instead
    with s.channel() as channel:  # over TCP the same call needs an identity
        code, _ = code_and_details(lambda: ping(pb_grpc.BrokerStub(channel), None, target="open"))
        assert code == grpc.StatusCode.UNAUTHENTICATED


def test_bad_auth_settings_stop_startup_naming_the_setting(tmp_path, tokens):
    bad = tmp_path / "bad-tokens"
    bad.write_text("app " + APP + "\n")  # the token itself, not its hash
    for args, expected in [
        (["--auth.tokens_file=/nonexistent/tokens"], "auth.tokens_file: cannot read '/nonexistent/tokens'"),
        ([f"--auth.tokens_file={bad}"], f"auth.tokens_file: {bad}, line 1: expected sha256: and 64 hex digits"),
        (["--targets.cache.allow.send=['']"], "targets.cache.allow.send: an empty caller pattern"),
        (["--targets.cache.allow.publish=[x]"], "targets.cache.allow.publish: unknown setting"),
    ]:
        code, _, err = run_binary("--target", "cache=redis://127.0.0.1:1", *args, "--check-config")
        assert code == 2 and err.count("\n") == 1 and expected in err, (expected, err)
        assert APP not in err
