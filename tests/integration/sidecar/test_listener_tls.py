"""TLS on the gRPC listener: the server's certificate from files, a client CA
that makes it mutual (a client without a certificate it signed is refused at
the handshake, a plaintext client too), and a rotation of the files taken up
by new connections within the reload interval while an open stream goes on.
Bad files stop startup with one line naming the setting."""

import shutil
import subprocess
import threading
import time

import grpc
import pytest

from brokerside.v1 import brokerside_pb2 as pb
from brokerside.v1 import brokerside_pb2_grpc as pb_grpc
from conftest import run_binary, wait_for

KEY = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"


def openssl(directory, command):
    subprocess.run(command.split(), cwd=directory, check=True, capture_output=True)


def sign(directory, name, subject, extension):
    (directory / f"{name}.ext").write_text(extension)
    openssl(directory, f"openssl req {KEY} -keyout {name}.key -out {name}.csr -subj {subject}")
    openssl(directory, f"openssl x509 -req -in {name}.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 "
                       f"-extfile {name}.ext -out {name}.pem")


@pytest.fixture
def pki(tmp_path):
    """A CA; two server certificates for localhost (the second replaces the
    first in a rotation); a client certificate with a SPIFFE ID."""
    openssl(tmp_path, f"openssl req -x509 {KEY} -keyout ca.key -out ca.pem -days 1 -subj /CN=brokerside-test-ca")
    san = "subjectAltName=DNS:localhost,IP:127.0.0.1"
    sign(tmp_path, "server-a", "/CN=server-a", san)
    sign(tmp_path, "server-b", "/CN=server-b", san)
    sign(tmp_path, "client", "/CN=orders", "subjectAltName=URI:spiffe://test/ns/orders/sa/app")
    (tmp_path / "other").mkdir()
    openssl(tmp_path / "other", f"openssl req -x509 {KEY} -keyout ca.key -out ca.pem -days 1 -subj /CN=other-ca")
    # The files the sidecar watches start as server-a's.
    shutil.copy(tmp_path / "server-a.pem", tmp_path / "tls.crt")
    shutil.copy(tmp_path / "server-a.key", tmp_path / "tls.key")
    return tmp_path


CA_CONFIG = """
[ca]
default_ca = test
[test]
database = db/index
serial = db/serial
new_certs_dir = db
default_md = sha256
policy = any
unique_subject = no
[any]
commonName = supplied
[client]
subjectAltName = URI:spiffe://test/ns/orders/sa/app
"""


def sign_dated(pki, name, start, end):
    """A client certificate of the test CA valid only from `start` to `end`
    (openssl ca: x509 -req cannot date one in the past)."""
    (pki / "db").mkdir(exist_ok=True)
    (pki / "db" / "index").touch()
    if not (pki / "db" / "serial").exists():
        (pki / "db" / "serial").write_text("1000\n")
    (pki / "ca.cnf").write_text(CA_CONFIG)
    openssl(pki, f"openssl req {KEY} -keyout {name}.key -out {name}.csr -subj /CN={name}")
    openssl(pki, f"openssl ca -batch -config ca.cnf -cert ca.pem -keyfile ca.key -in {name}.csr -out {name}.pem "
                 f"-startdate {start} -enddate {end} -extensions client")


def credentials(pki, client=True):
    read = lambda name: (pki / name).read_bytes()
    if client:
        return grpc.ssl_channel_credentials(read("ca.pem"), read("client.key"), read("client.pem"))
    return grpc.ssl_channel_credentials(read("ca.pem"))


def tls_args(pki, *extra):
    return ["--target", "cache=redis://127.0.0.1:1", f"--listen.tls.cert_file={pki / 'tls.crt'}",
            f"--listen.tls.key_file={pki / 'tls.key'}", f"--listen.tls.client_ca_file={pki / 'ca.pem'}",
            "--listen.tls.reload_interval=1s", *extra]


def served_certificate_subject(port):
    """The subject CN of the certificate the listener presents now, from a
    fresh handshake by openssl s_client (it shows the server's certificate
    even when the server then refuses it for want of a client certificate)."""
    hello = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-servername", "localhost"],
                           input=b"", capture_output=True, timeout=10).stdout
    text = subprocess.run(["openssl", "x509", "-noout", "-subject"], input=hello,
                          capture_output=True, timeout=10).stdout.decode()
    return text.strip().rsplit("=", 1)[-1].strip()


def test_mutual_tls_admits_only_clients_the_ca_signed(sidecar, pki):
    s = sidecar(*tls_args(pki), credentials=credentials(pki))
    with grpc.secure_channel(s.address, credentials(pki)) as channel:
        reply = pb_grpc.BrokerStub(channel).Stats(pb.StatsRequest(), timeout=5)
        assert [t.name for t in reply.targets] == ["cache"]
    for refused in (grpc.insecure_channel(s.address),
                    grpc.secure_channel(s.address, credentials(pki, client=False)),
                    grpc.secure_channel(s.address, grpc.ssl_channel_credentials(
                        (pki / "ca.pem").read_bytes(), (pki / "other" / "ca.key").read_bytes(),
                        (pki / "other" / "ca.pem").read_bytes()))):
        with refused as channel, pytest.raises(grpc.RpcError) as e:
            pb_grpc.BrokerStub(channel).Stats(pb.StatsRequest(), timeout=3)
        assert e.value.code() == grpc.StatusCode.UNAVAILABLE


def test_expired_and_not_yet_valid_client_certificates_are_refused(sidecar, pki):
    sign_dated(pki, "expired", "20200101000000Z", "20200102000000Z")
    sign_dated(pki, "future", "21000101000000Z", "21000102000000Z")
    s = sidecar(*tls_args(pki), credentials=credentials(pki))
    for name in ("expired", "future"):
        dated = grpc.ssl_channel_credentials((pki / "ca.pem").read_bytes(), (pki / f"{name}.key").read_bytes(),
                                             (pki / f"{name}.pem").read_bytes())
        with grpc.secure_channel(s.address, dated) as channel, pytest.raises(grpc.RpcError) as e:
            pb_grpc.BrokerStub(channel).Stats(pb.StatsRequest(), timeout=3)
        assert e.value.code() == grpc.StatusCode.UNAVAILABLE, name
    # The same CA's current certificate is still let in.
    with grpc.secure_channel(s.address, credentials(pki)) as channel:
        assert pb_grpc.BrokerStub(channel).Stats(pb.StatsRequest(), timeout=5).targets


def test_the_probe_speaks_tls_with_a_client_certificate(sidecar, pki):
    s = sidecar(*tls_args(pki), credentials=credentials(pki))
    tls = ["--probe-ca", str(pki / "ca.pem"), "--probe-cert", str(pki / "client.pem"),
           "--probe-key", str(pki / "client.key")]
    code, out, _ = run_binary(f"--probe={s.address}", *tls)
    assert code == 0 and "SERVING" in out
    # The certificate names localhost and 127.0.0.1: another name is refused.
    code, _, err = run_binary(f"--probe={s.address}", *tls, "--probe-server-name", "elsewhere.example")
    assert code == 1 and err.count("\n") == 1
    code, _, err = run_binary(f"--probe={s.address}", "--probe-ca", str(pki / "ca.pem"))  # no client certificate
    assert code == 1 and err.count("\n") == 1
    code, _, err = run_binary(f"--probe={s.address}")  # plaintext
    assert code == 1 and err.count("\n") == 1
    code, _, err = run_binary(f"--probe={s.address}", "--probe-ca", str(pki / "missing.pem"))
    assert code == 1 and "cannot read" in err and str(pki / "missing.pem") in err


def test_tls_without_a_client_ca_serves_any_client(sidecar, pki):
    args = [a for a in tls_args(pki) if "client_ca_file" not in a]
    s = sidecar(*args, credentials=credentials(pki, client=False))
    with grpc.secure_channel(s.address, credentials(pki, client=False)) as channel:
        assert pb_grpc.BrokerStub(channel).Stats(pb.StatsRequest(), timeout=5).targets


def test_a_rotation_reaches_new_connections_and_open_streams_go_on(sidecar, pki):
    s = sidecar(*tls_args(pki), credentials=credentials(pki))
    assert served_certificate_subject(s.port) == "server-a"
    with grpc.secure_channel(s.address, credentials(pki)) as channel:
        stub = pb_grpc.BrokerStub(channel)
        requests, outcomes, ids = [], [], iter(range(1, 1000))
        ready = threading.Event()

        def send():
            yield pb.SendStreamRequest(id=next(ids), send=pb.SendRequest(
                target="cache", command=pb.Command(args=[b"PING"])))
            ready.wait(30)
            yield pb.SendStreamRequest(id=next(ids), send=pb.SendRequest(
                target="cache", command=pb.Command(args=[b"PING"])))

        stream = stub.SendStream(send(), timeout=60)
        outcomes.append(next(stream))  # (the target is unreachable: an outcome, not a stream error)
        # Kubernetes swaps a mounted Secret's files in place.
        shutil.copy(pki / "server-b.pem", pki / "tls.crt.new")
        shutil.copy(pki / "server-b.key", pki / "tls.key.new")
        (pki / "tls.crt.new").rename(pki / "tls.crt")
        (pki / "tls.key.new").rename(pki / "tls.key")
        assert wait_for(lambda: served_certificate_subject(s.port) == "server-b", timeout=10)
        ready.set()
        outcomes.append(next(stream))
        assert [o.id for o in outcomes] == [1, 2]
    with grpc.secure_channel(s.address, credentials(pki)) as channel:
        assert pb_grpc.BrokerStub(channel).Stats(pb.StatsRequest(), timeout=5).targets


def test_a_rotation_under_load_drops_no_open_recv_stream_and_no_delivery(sidecar, brokers, pki):
    args = [a for a in tls_args(pki) if not a.startswith("cache=")]
    s = sidecar("--target", f"cache={brokers['BROKERSIDE_REDIS_URL']}", *args[1:], credentials=credentials(pki))
    channel_name = f"rotation.{time.monotonic_ns()}"
    with grpc.secure_channel(s.address, credentials(pki)) as channel:
        stub = pb_grpc.BrokerStub(channel)
        received, subscribed, ended, stop = [0] * 3, [threading.Event() for _ in range(3)], [], threading.Event()

        def receive(i):
            def requests():
                yield pb.RecvRequest(subscribe=pb.Subscribe(target="cache", sources=[channel_name], credit=100000))
                stop.wait(60)
            try:
                for r in stub.Recv(requests(), timeout=60):
                    if r.HasField("subscribed"):
                        subscribed[i].set()
                    elif r.HasField("delivery"):
                        received[i] += 1
            except grpc.RpcError as e:
                if not stop.is_set():
                    ended.append(e)

        readers = [threading.Thread(target=receive, args=(i,)) for i in range(3)]
        for r in readers:
            r.start()
        assert all(e.wait(10) for e in subscribed)
        published = 0
        publish = pb.SendRequest(target="cache", publish=pb.Publish(destination=channel_name,
                                                                    message=pb.Message(body=b"m")))

        def publish_for(seconds):
            nonlocal published
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                # The three streams share one subscription (one receiver at Redis).
                assert stub.Send(publish, timeout=5).published.receivers == 1
                published += 1

        publish_for(1)
        shutil.copy(pki / "server-b.pem", pki / "tls.crt.new")
        shutil.copy(pki / "server-b.key", pki / "tls.key.new")
        (pki / "tls.crt.new").rename(pki / "tls.crt")
        (pki / "tls.key.new").rename(pki / "tls.key")
        deadline = time.monotonic() + 10
        while served_certificate_subject(s.port) != "server-b":  # publishing all the while
            assert time.monotonic() < deadline, "the new certificate was not served within 10 s"
            publish_for(0.2)
        publish_for(1)
        # New connections get the new certificate and are let in.
        with grpc.secure_channel(s.address, credentials(pki)) as fresh:
            assert pb_grpc.BrokerStub(fresh).Send(publish, timeout=5).published.receivers == 1
            published += 1
        assert wait_for(lambda: received == [published] * 3, timeout=10), (received, published)
        stop.set()
        for r in readers:
            r.join(10)
        assert not ended, ended
        print(f"\nrotation under load: {published} publishes, each delivered to all 3 open streams")


def test_a_broken_rotation_keeps_the_last_good_certificate(sidecar, pki):
    s = sidecar(*tls_args(pki), credentials=credentials(pki))
    # A half-written Secret: the certificate garbage, the key another's.
    (pki / "tls.crt").write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    shutil.copy(pki / "server-b.key", pki / "tls.key")
    time.sleep(2.5)  # two reload intervals
    assert served_certificate_subject(s.port) == "server-a"
    with grpc.secure_channel(s.address, credentials(pki)) as channel:
        assert pb_grpc.BrokerStub(channel).Stats(pb.StatsRequest(), timeout=5).targets
    assert s.log().count("keeping the certificate read before") == 1  # once, not every interval
    # Mended: taken up.
    shutil.copy(pki / "server-b.pem", pki / "tls.crt")
    assert wait_for(lambda: served_certificate_subject(s.port) == "server-b", timeout=10)
    assert "certificate files read again" in s.log()


def test_bad_tls_files_stop_startup_naming_the_setting(pki):
    cases = [
        (["--listen.tls.cert_file=/nonexistent.pem", f"--listen.tls.key_file={pki / 'tls.key'}"],
         "listen.tls.cert_file: cannot use /nonexistent.pem"),
        ([f"--listen.tls.cert_file={pki / 'server-a.pem'}", f"--listen.tls.key_file={pki / 'server-b.key'}"],
         f"listen.tls.key_file: {pki / 'server-b.key'} is not the key of {pki / 'server-a.pem'}"),
        ([f"--listen.tls.cert_file={pki / 'server-a.pem'}"], "listen.tls.key_file: required with cert_file"),
        ([f"--listen.tls.client_ca_file={pki / 'ca.pem'}"], "listen.tls.cert_file: required with"),
        ([f"--listen.tls.cert_file={pki / 'server-a.pem'}", f"--listen.tls.key_file={pki / 'server-a.key'}",
          f"--listen.tls.client_ca_file={pki / 'client.ext'}"], "listen.tls.client_ca_file: cannot use"),
    ]
    for args, expected in cases:
        code, _, err = run_binary("--target", "cache=redis://127.0.0.1:1", *args, "--check-config")
        assert code == 2, (args, err)
        assert err.count("\n") == 1 and expected in err, (expected, err)
