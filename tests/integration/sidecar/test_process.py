"""The brokerside binary as a process: reflection, drain on SIGTERM, probes,
the admin listener, logging, and one-line errors for bad input."""

import json
import os
import socket
import stat
import time

import grpc
import pytest
from google.protobuf import descriptor_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from brokerside.v1 import brokerside_pb2 as pb
from brokerside.v1 import brokerside_pb2_grpc as pb_grpc
from conftest import free_port, http_get, run_binary

REDIS = "cache=redis://app:hunter2@127.0.0.1:6379/0"


def get_request(target="cache"):
    return pb.SendRequest(target=target, command=pb.Command(args=[b"GET", b"k"]))


def test_reflection_lists_the_services(sidecar):
    s = sidecar("--target", REDIS)
    with s.channel() as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        replies = list(stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=5))
        names = {svc.name for svc in replies[0].list_services_response.service}
        assert {"brokerside.v1.Broker", "grpc.health.v1.Health"} <= names
        replies = list(stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(file_containing_symbol="brokerside.v1.Broker")]), timeout=5))
        assert replies[0].file_descriptor_response.file_descriptor_proto
        # Our own reflection service (gRPC 1.51's is a sync one): the file
        # first, then what it imports; several requests on one stream, each
        # answered in turn; what does not exist answered NOT_FOUND.
        files = [descriptor_pb2.FileDescriptorProto.FromString(b)
                 for b in replies[0].file_descriptor_response.file_descriptor_proto]
        assert "Broker" in [svc.name for svc in files[0].service]
        assert set(files[0].dependency) <= {f.name for f in files[1:]}
        requests = [reflection_pb2.ServerReflectionRequest(file_by_filename=files[0].name),
                    reflection_pb2.ServerReflectionRequest(file_containing_symbol="no.such.Symbol"),
                    reflection_pb2.ServerReflectionRequest(all_extension_numbers_of_type="brokerside.v1.SendRequest")]
        replies = list(stub.ServerReflectionInfo(iter(requests), timeout=5))
        assert len(replies) == 3
        assert descriptor_pb2.FileDescriptorProto.FromString(
            replies[0].file_descriptor_response.file_descriptor_proto[0]).name == files[0].name
        assert replies[1].error_response.error_code == grpc.StatusCode.NOT_FOUND.value[0]
        assert replies[2].all_extension_numbers_response.base_type_name == "brokerside.v1.SendRequest"
        # A method no service has.
        with pytest.raises(grpc.RpcError) as e:
            channel.unary_unary("/no.Such/Method")(b"", timeout=5)
        assert e.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_health_and_python_client_status_codes(sidecar):
    s = sidecar("--target", REDIS, "--target", "q=amqp://127.0.0.1:1")
    with s.channel() as channel:
        health = health_pb2_grpc.HealthStub(channel)
        assert health.Check(health_pb2.HealthCheckRequest(service=""), timeout=5).status == health_pb2.HealthCheckResponse.SERVING
        assert health.Check(health_pb2.HealthCheckRequest(service="cache"), timeout=5).status == health_pb2.HealthCheckResponse.NOT_SERVING
        broker = pb_grpc.BrokerStub(channel)
        with pytest.raises(grpc.RpcError) as e:
            broker.Send(get_request("nope"), timeout=5)
        assert e.value.code() == grpc.StatusCode.NOT_FOUND
        # An operation the target's protocol has not: refused before any
        # connection is used (nothing listens on port 1).
        with pytest.raises(grpc.RpcError) as e:
            broker.Send(get_request("q"), timeout=5)
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert e.value.details().startswith("amqp: ")


def test_sigterm_lets_in_flight_streams_finish_and_refuses_new_calls(sidecar):
    s = sidecar("--target", REDIS, "--shutdown-grace=10s", "--server.drain_delay=3s")
    channel = s.channel()
    broker = pb_grpc.BrokerStub(channel)
    requests = []
    import queue
    q = queue.Queue()

    def feed():
        while True:
            item = q.get()
            if item is None:
                return
            yield item

    responses = broker.SendStream(feed(), timeout=30)
    q.put(pb.SendStreamRequest(id=1, send=get_request()))
    assert next(responses).id == 1

    watch = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest(service=""), timeout=30)
    assert next(watch).status == health_pb2.HealthCheckResponse.SERVING

    s.terminate()
    # Health turns NOT_SERVING first; through the drain delay new calls get
    # UNAVAILABLE from the service, and after it the listener is closed.
    assert next(watch).status == health_pb2.HealthCheckResponse.NOT_SERVING
    for _ in range(3):
        with grpc.insecure_channel(s.address) as fresh:
            with pytest.raises(grpc.RpcError) as e:
                pb_grpc.BrokerStub(fresh).Stats(pb.StatsRequest(), timeout=2)
            assert e.value.code() == grpc.StatusCode.UNAVAILABLE, e.value
    assert s.proc.poll() is None, "exited while a stream was in flight"

    # The in-flight stream still works, and ends cleanly.
    q.put(pb.SendStreamRequest(id=2, send=get_request("nope")))
    second = next(responses)
    assert second.id == 2 and second.status.code == grpc.StatusCode.NOT_FOUND.value[0]
    q.put(None)
    assert list(responses) == []
    # The open health Watch does not hold the drain: it ends at shutdown.
    # (20 s: the ASan build under the parallel test command once took more
    # than 10 s from here to its exit, leak check included.)
    assert s.wait(timeout=20) == 0
    assert [r.status for r in watch] == []
    channel.close()
    assert "draining" in s.log() and "stopped" in s.log()


def test_sigterm_cancels_streams_still_open_after_the_grace_period(sidecar):
    s = sidecar("--target", REDIS, "--shutdown-grace=1s")
    channel = s.channel()
    broker = pb_grpc.BrokerStub(channel)
    import threading
    hold = threading.Event()

    def feed():
        yield pb.SendStreamRequest(id=1, send=get_request())
        hold.wait(30)

    responses = broker.SendStream(feed(), timeout=30)
    assert next(responses).id == 1
    started = time.monotonic()
    s.terminate()
    assert s.wait(timeout=10) == 0
    elapsed = time.monotonic() - started
    assert 0.9 < elapsed < 5, elapsed
    with pytest.raises(grpc.RpcError) as e:
        list(responses)
    assert e.value.code() in (grpc.StatusCode.CANCELLED, grpc.StatusCode.UNAVAILABLE)
    hold.set()
    channel.close()


def test_admin_listener(sidecar):
    s = sidecar("--target", REDIS)
    assert http_get(s.admin_port, "/healthz") == (200, "ok\n")
    assert http_get(s.admin_port, "/readyz") == (200, "ready\n")
    with s.channel() as channel:
        with pytest.raises(grpc.RpcError):
            pb_grpc.BrokerStub(channel).Send(get_request("nope"), timeout=5)
    status, body = http_get(s.admin_port, "/metrics")
    assert status == 200
    assert 'brokerside_grpc_calls_total{method="Send",code="NOT_FOUND"} 1' in body
    assert "brokerside_build_info" in body


def test_above_max_memory_new_work_is_refused_and_the_rest_still_answers(sidecar):
    # 1 MiB: below any real process, so every new piece of work is refused.
    s = sidecar("--target", "cache=redis://127.0.0.1:1", "--server.max_memory=1MiB")
    with s.channel() as channel:
        stub = pb_grpc.BrokerStub(channel)
        for call in (lambda: stub.Send(get_request(), timeout=5),
                     lambda: list(stub.SendStream(iter([pb.SendStreamRequest(id=1, send=get_request())]),
                                                  timeout=5)),
                     lambda: list(stub.Recv(iter([pb.RecvRequest(subscribe=pb.Subscribe(
                         target="cache", sources=["c"]))]), timeout=5)),
                     lambda: stub.Acquire(pb.AcquireRequest(target="cache"), timeout=5)):
            with pytest.raises(grpc.RpcError) as e:
                call()
            assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert e.value.details().startswith("brokerside is above server.max_memory (")
        # What costs nothing still answers: health, Stats, /metrics.
        assert health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5).status == \
            health_pb2.HealthCheckResponse.SERVING
        assert [t.name for t in stub.Stats(pb.StatsRequest(), timeout=5).targets] == ["cache"]
    _, body = http_get(s.admin_port, "/metrics")
    assert "brokerside_memory_refusals_total 4\n" in body
    assert "brokerside_max_memory_bytes 1048576\n" in body
    assert s.log().count("is above server.max_memory (1 MiB): new work is refused") == 1


def test_resident_memory_is_reported_and_the_heap_purged_in_the_background(sidecar):
    s = sidecar("--target", REDIS)
    _, body = http_get(s.admin_port, "/metrics")
    resident = int(next(line.split()[1] for line in body.splitlines()
                        if line.startswith("brokerside_resident_memory_bytes ")))
    assert 1 << 20 < resident < 1 << 30
    assert "brokerside_max_memory_bytes 0\n" in body
    # With jemalloc (not in the sanitizer build, which brings its own
    # allocator) a background thread gives freed memory back.
    maps = open(f"/proc/{s.proc.pid}/maps").read()
    if "libjemalloc" in maps:
        names = [open(f"/proc/{s.proc.pid}/task/{t}/comm").read().strip()
                 for t in os.listdir(f"/proc/{s.proc.pid}/task")]
        assert "jemalloc_bg_thd" in names, names


def test_readyz_waits_for_required_targets(sidecar):
    s = sidecar("--target", REDIS, "--readiness.required_targets=[cache]")
    status, body = http_get(s.admin_port, "/readyz")
    assert status == 503
    assert "required target 'cache' is not healthy" in body
    assert http_get(s.admin_port, "/healthz")[0] == 200


def test_unix_socket_listener(sidecar, tmp_path):
    path = tmp_path / "grpc.sock"
    sidecar("--target", REDIS, f"--unix-socket={path}")
    with grpc.insecure_channel(f"unix:{path}") as channel:
        reply = pb_grpc.BrokerStub(channel).Stats(pb.StatsRequest(), timeout=5)
        assert [t.name for t in reply.targets] == ["cache"]
    # Owner and group only, by default, whatever the umask.
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o660


def test_unix_socket_mode_and_group_are_set_and_checked(sidecar, tmp_path):
    path = tmp_path / "grpc.sock"
    sidecar("--target", REDIS, f"--unix-socket={path}", "--listen.unix_socket_mode=0600",
            "--listen.unix_socket_group=12345")  # (the tests run as root: any gid may be given)
    st = os.stat(path)
    assert (stat.S_IMODE(st.st_mode), st.st_gid) == (0o600, 12345)
    code, _, err = run_binary("--target", REDIS, f"--unix-socket={tmp_path / 'b.sock'}",
                              "--listen.unix_socket_mode=rw", "--check-config")
    assert code == 2 and err.strip() == \
        'brokerside: configuration: listen.unix_socket_mode: \'rw\' is not an octal mode like "0660"'
    code, _, err = run_binary("--target", REDIS, f"--unix-socket={tmp_path / 'b.sock'}",
                              "--listen.unix_socket_group=no-such-group-here", "--check-config")
    assert code == 2 and "listen.unix_socket_group: 'no-such-group-here' is neither a gid nor a known group" in err


def test_probe_exit_codes(sidecar):
    s = sidecar("--target", REDIS)
    code, out, _ = run_binary(f"--probe={s.address}")
    assert code == 0 and "SERVING" in out
    code, out, _ = run_binary(f"--probe={s.address}", "--probe-service", "cache")
    assert code == 1 and "NOT_SERVING" in out
    code, _, err = run_binary(f"--probe=127.0.0.1:{free_port()}")
    assert code == 1 and err.count("\n") == 1


def test_secrets_never_reach_logs_stats_or_metrics(sidecar, tmp_path):
    secret_file = tmp_path / "pw"
    secret_file.write_text("file-secret-7731\n")
    s = sidecar("--target", "cache=redis://app:url-secret-5512@127.0.0.1:6379",
                "--target", "q=amqp://guest:other-secret-9@127.0.0.1:5672/%2f",
                f"--targets.q.password_file={secret_file}", "--log-level=trace")
    captured = []
    with s.channel() as channel:
        broker = pb_grpc.BrokerStub(channel)
        captured.append(str(broker.Stats(pb.StatsRequest(), timeout=5)))
        for target in ("cache", "q", "nope"):
            try:
                broker.Send(get_request(target), timeout=5)
            except grpc.RpcError as e:
                captured.append(e.details())
    captured.append(http_get(s.admin_port, "/metrics")[1])
    s.terminate()
    s.wait(timeout=15)
    captured.append(s.log())
    everything = "\n".join(captured)
    assert "***" in everything  # the redacted URLs are there ...
    for secret in ("url-secret-5512", "other-secret-9", "file-secret-7731"):
        assert secret not in everything  # ... the secrets are not


def test_json_logs_are_one_object_per_line(sidecar):
    s = sidecar("--target", REDIS, "--log-format=json")
    s.terminate()
    assert s.wait(timeout=15) == 0
    lines = [line for line in s.log().splitlines() if line]
    assert len(lines) >= 3
    for line in lines:
        record = json.loads(line)
        assert {"time", "level", "msg"} <= record.keys()


@pytest.mark.parametrize(
    "args, config, message",
    [
        (["--bogus"], None, "brokerside: unknown flag --bogus (see --help)"),
        (["--target", "x=mongodb://h"], None, "brokerside: configuration: targets.x.url: unknown URL scheme 'mongodb'"),
        ([], "targets:\n  a: [\n", "line 3, column 1: malformed YAML"),
        ([], "targets: {a: {url: 'redis://h', pool: {max_connections: 0}}}", "targets.a.pool.max_connections: must be at least 1"),
        (["--config=/nonexistent.yaml"], None, "brokerside: /nonexistent.yaml: cannot read: No such file or directory"),
    ],
)
def test_bad_configuration_is_one_line_and_exit_2(tmp_path, args, config, message):
    if config is not None:
        path = tmp_path / "c.yaml"
        path.write_text(config)
        args = [*args, f"--config={path}"]
    for extra in ([], ["--check-config"]):
        code, out, err = run_binary(*args, *extra)
        assert code == 2
        assert err.count("\n") == 1, err
        assert message in err
        assert out == ""


def test_check_config_accepts_a_valid_configuration():
    code, out, err = run_binary("--target", REDIS, "--check-config")
    assert code == 0 and err == ""
    assert out == "brokerside: configuration is valid (1 target)\n"


def test_port_in_use_is_one_line_and_non_zero():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, _, err = run_binary(f"--listen=127.0.0.1:{port}", "--admin=", "--target", REDIS)
        assert code == 1
        assert err == f"brokerside: listen.grpc: cannot listen on 127.0.0.1:{port}: Address already in use\n"
        code, _, err = run_binary(f"--listen=127.0.0.1:{free_port()}", f"--admin=127.0.0.1:{port}")
        assert code == 1
        assert err == f"brokerside: listen.admin: cannot listen on 127.0.0.1:{port}: Address already in use\n"
