"""Kafka of the test's own with a SASL_SSL listener (own_brokers.OwnKafka: a
certificate made here; PLAIN and SCRAM-SHA-512 users). PLAIN runs against
Kafka 4.4; SCRAM against Kafka 3.9, because librdkafka before 2.6.1 (Debian
12 has 2.0.2) cannot log in with SCRAM to Kafka 4.0 or newer
(confluentinc/librdkafka#4895): against 4.4 the refusal says so."""

import threading

import grpc
import pytest

from brokerside.v1 import brokerside_pb2 as pb
from brokerside.v1 import brokerside_pb2_grpc as pb_grpc
from own_brokers import OwnKafka

USERS = {"alice": "alice-secret"}


@pytest.fixture
def secure_kafka(tmp_path):
    k = OwnKafka(tmp_path, sasl_users=USERS)
    k.start()
    yield k
    k.close()


@pytest.fixture
def secure_kafka_3_9(tmp_path):
    k = OwnKafka(tmp_path, sasl_users=USERS, version="3.9")
    k.start()
    yield k
    k.close()


def secret(tmp_path, name, value):
    path = tmp_path / name
    path.write_text(value + "\n")
    return path


def round_trip(s, topic):
    """Creates `topic`, publishes to it and reads it back through `s`."""
    with s.channel() as channel:
        broker = pb_grpc.BrokerStub(channel)
        broker.Send(pb.SendRequest(target="k", command=pb.Command(args=[b"topic.create", topic.encode()])),
                    timeout=60)
        ack = broker.Send(pb.SendRequest(target="k", publish=pb.Publish(
            destination=topic, message=pb.Message(body=b"over TLS, as alice"))), timeout=30).published
        assert (ack.partition, ack.offset) == (0, 0)
        done = threading.Event()

        def requests():  # open until the test has its delivery
            yield pb.RecvRequest(subscribe=pb.Subscribe(target="k", sources=[topic], group="g-secure"))
            done.wait(60)

        stream = broker.Recv(requests(), timeout=60)
        try:
            body = next(r.delivery.message.body for r in stream if r.WhichOneof("kind") == "delivery")
        finally:
            done.set()
            stream.cancel()
        assert body == b"over TLS, as alice"


def test_plain_over_tls_with_a_verified_certificate(sidecar, secure_kafka, tmp_path):
    s = sidecar("--target", f"k=kafkas://alice@127.0.0.1:{secure_kafka.sasl_port}",
                f"--targets.k.password_file={secret(tmp_path, 'alice.pw', USERS['alice'])}",
                "--targets.k.sasl_mechanism=PLAIN", f"--targets.k.tls.ca_file={secure_kafka.dir / 'ca.pem'}")
    round_trip(s, "secure-plain")
    assert USERS["alice"] not in s.log()


def test_scram_over_tls_with_kafka_3_9(sidecar, secure_kafka_3_9, tmp_path):
    s = sidecar("--target", f"k=kafkas://alice@127.0.0.1:{secure_kafka_3_9.sasl_port}",
                f"--targets.k.password_file={secret(tmp_path, 'alice.pw', USERS['alice'])}",
                f"--targets.k.tls.ca_file={secure_kafka_3_9.dir / 'ca.pem'}")  # SCRAM-SHA-512: the default
    round_trip(s, "secure-scram")
    assert USERS["alice"] not in s.log()


def test_refusals_at_login_fail_fast_and_say_why(sidecar, secure_kafka, tmp_path):
    url = f"kafkas://alice@127.0.0.1:{secure_kafka.sasl_port}"
    ca = str(secure_kafka.dir / "ca.pem")
    right = secret(tmp_path, "right.pw", USERS["alice"])
    wrong = secret(tmp_path, "wrong.pw", "not-her-password")
    s = sidecar("--target", f"wrong={url}", f"--targets.wrong.password_file={wrong}",
                "--targets.wrong.sasl_mechanism=PLAIN", f"--targets.wrong.tls.ca_file={ca}",
                "--target", f"unverified={url}", f"--targets.unverified.password_file={right}",
                "--targets.unverified.sasl_mechanism=PLAIN",
                "--target", f"scram={url}", f"--targets.scram.password_file={right}",
                f"--targets.scram.tls.ca_file={ca}")
    with s.channel() as channel:
        broker = pb_grpc.BrokerStub(channel)
        for target, words in (("wrong", "Authentication failed"),
                              ("unverified", "certificate verify failed"),
                              ("scram", "librdkafka#4895")):
            with pytest.raises(grpc.RpcError) as e:
                broker.Send(pb.SendRequest(target=target, publish=pb.Publish(
                    destination="secure", message=pb.Message(body=b"x"))), timeout=15)
            # Failed at the first refusal, not at the deadline; a refused login is not
            # worth retrying (PERMISSION_DENIED), an untrusted certificate may be fixed
            # on the broker's side meanwhile.
            expected = grpc.StatusCode.UNAVAILABLE if target == "unverified" else grpc.StatusCode.PERMISSION_DENIED
            assert e.value.code() == expected, (target, e.value.code(), e.value.details())
            assert words in e.value.details(), (target, e.value.details())
    log = s.log()
    assert "not-her-password" not in log and USERS["alice"] not in log
