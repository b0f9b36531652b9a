"""The Kafka adapter against Apache Kafka 4.4 (KRaft, started by
scripts/brokers.sh with automatic topic creation off) and kafka-python, an
independent client: topics created and deleted through Send{command};
brokerside publishes (keys, headers, a chosen partition) read back by a
kafka-python consumer with every field intact and at the partition and
offset each PublishAck named; thousands in flight on one SendStream; an
unknown topic, an oversized record and bad input refused with their
reasons; an unreachable cluster UNAVAILABLE; settings librdkafka refuses
stopping startup with the field named."""

import uuid

import grpc
import pytest
from kafka import KafkaConsumer, TopicPartition

from brokerside.v1 import brokerside_pb2 as pb
from brokerside.v1 import brokerside_pb2_grpc as pb_grpc
from conftest import run_binary


@pytest.fixture
def kafka_url(brokers):
    return brokers["BROKERSIDE_KAFKA_URL"]


@pytest.fixture
def broker(sidecar, kafka_url):
    s = sidecar("--target", f"k={kafka_url}", "--targets.k.max_message_bytes=100000")
    with s.channel() as channel:
        yield pb_grpc.BrokerStub(channel)


def command(broker, *args, **options):
    return broker.Send(pb.SendRequest(target="k", command=pb.Command(
        args=[str(a).encode() for a in args],
        options={k: pb.Value(text=str(v)) for k, v in options.items()})), timeout=60)


def new_topic(broker, partitions=1):
    name = f"bs-{uuid.uuid4().hex[:10]}"
    assert command(broker, "topic.create", name, partitions).reply.text == "OK"
    return name


def publish(topic, body, key=b"", partition=None, headers=None):
    p = pb.Publish(destination=topic, message=pb.Message(body=body, key=key, headers=headers or {}))
    if partition is not None:
        p.partition = partition
    return pb.SendRequest(target="k", publish=p)


def read_back(kafka_url, topic, partitions, count):
    consumer = KafkaConsumer(bootstrap_servers=kafka_url.removeprefix("kafka://"),
                             enable_auto_commit=False, consumer_timeout_ms=10000)
    consumer.assign([TopicPartition(topic, p) for p in range(partitions)])
    consumer.seek_to_beginning()
    got = []
    for record in consumer:
        got.append(record)
        if len(got) == count:
            break
    consumer.close()
    return got


def test_publishes_are_read_back_by_kafka_python_where_their_acks_said(broker, kafka_url):
    topic = new_topic(broker, partitions=3)
    acks = []
    for i in range(6):
        ack = broker.Send(publish(topic, f"v{i}".encode(), key=f"k{i % 2}".encode(),
                                  headers={"Trace": pb.Value(text=f"t{i}"), "Raw": pb.Value(bytes=b"\x00\xff")}),
                          timeout=30).published
        acks.append((ack.partition, ack.offset))
    pinned = broker.Send(publish(topic, b"pinned", partition=2), timeout=30).published
    assert pinned.partition == 2
    records = read_back(kafka_url, topic, 3, 7)
    assert len(records) == 7
    by_value = {r.value: r for r in records}
    for i, (partition, offset) in enumerate(acks):
        r = by_value[f"v{i}".encode()]
        assert (r.partition, r.offset) == (partition, offset)
        assert r.key == f"k{i % 2}".encode()
        assert dict(r.headers) == {"Trace": f"t{i}".encode(), "Raw": b"\x00\xff"}
    # The same key, the same partition.
    assert len({acks[i][0] for i in (0, 2, 4)}) == 1 and len({acks[i][0] for i in (1, 3, 5)}) == 1
    assert (by_value[b"pinned"].partition, by_value[b"pinned"].offset) == (2, pinned.offset)
    assert command(broker, "topic.delete", topic).reply.text == "OK"


def test_thousands_in_flight_on_one_stream_all_acknowledged_once(broker, kafka_url):
    topic = new_topic(broker, partitions=2)
    n = 3000
    requests = (pb.SendStreamRequest(id=i, send=publish(topic, str(i).encode(), key=str(i % 7).encode()))
                for i in range(n))
    answers = list(broker.SendStream(requests, timeout=120))
    assert len(answers) == n
    assert all(a.status.code == 0 for a in answers), [a.status for a in answers if a.status.code][:3]
    positions = {(a.result.published.partition, a.result.published.offset) for a in answers}
    assert len(positions) == n  # each in its own place
    for p in (0, 1):
        offsets = sorted(o for part, o in positions if part == p)
        assert offsets == list(range(len(offsets)))  # none lost, none twice
    assert len(read_back(kafka_url, topic, 2, n)) == n


def test_refusals_say_why(broker):
    topic = new_topic(broker)
    cases = [
        (publish(f"no-such-topic-{uuid.uuid4().hex[:6]}", b"x"), grpc.StatusCode.NOT_FOUND, "unknown topic"),
        (publish(topic, b"x" * 200_000), grpc.StatusCode.INVALID_ARGUMENT, "max_message_bytes"),
        (publish("", b"x"), grpc.StatusCode.INVALID_ARGUMENT, "publish.destination"),
        (publish(topic, b"x", partition=-5), grpc.StatusCode.INVALID_ARGUMENT, "publish.partition"),
        (pb.SendRequest(target="k", request=pb.Request(destination=topic)), grpc.StatusCode.INVALID_ARGUMENT,
         "request/reply"),
        (pb.SendRequest(target="k", command=pb.Command(args=[b"topic.create"])), grpc.StatusCode.INVALID_ARGUMENT,
         "topic.create"),
        (pb.SendRequest(target="k", command=pb.Command(args=[b"topic.create", b"x", b"many"])),
         grpc.StatusCode.INVALID_ARGUMENT, "not a number"),
        (pb.SendRequest(target="k", command=pb.Command(args=[b"FLUSHALL"])), grpc.StatusCode.INVALID_ARGUMENT,
         "not one of"),
        (pb.SendRequest(target="k", command=pb.Command(args=[b"topic.create", topic.encode()])),
         grpc.StatusCode.FAILED_PRECONDITION, "already exists"),
    ]
    for request, code, words in cases:
        with pytest.raises(grpc.RpcError) as e:
            broker.Send(request, timeout=30)
        assert e.value.code() == code, (request, e.value)
        assert words in e.value.details(), e.value.details()
    # The producer is fine after all of it.
    assert broker.Send(publish(topic, b"after"), timeout=30).published.offset == 0


def test_an_unreachable_cluster_is_unavailable_saying_so(sidecar):
    s = sidecar("--target", "k=kafka://127.0.0.1:1", "--targets.k.pool.connect_timeout=1s",
                "--targets.k.retry.max_retries=0")
    with s.channel() as channel:
        with pytest.raises(grpc.RpcError) as e:
            pb_grpc.BrokerStub(channel).Send(publish("t", b"x"), timeout=10)
        assert e.value.code() == grpc.StatusCode.UNAVAILABLE, e.value
        assert "kafka" in e.value.details(), e.value.details()


def test_settings_librdkafka_refuses_stop_startup_naming_the_field():
    for flag, field in (("--targets.k.compression=zip", "targets.k.compression"),
                        ("--targets.k.acks=2", "targets.k.acks"),
                        ("--targets.k.linger=-5ms", "targets.k.linger")):
        code, _, err = run_binary("--target", "k=kafka://127.0.0.1:9092", flag, "--check-config")
        assert code == 2, (flag, err)
        assert field in err, (flag, err)
    code, _, err = run_binary("--target", "k=kafka://127.0.0.1:9092", "--targets.k.acks=1", "--check-config")
    assert code == 2 and "targets.k.idempotence" in err, err  # idempotence needs acks: all
    code, out, err = run_binary("--target", "k=kafka://127.0.0.1:9092", "--targets.k.acks=1",
                                "--targets.k.idempotence=false", "--check-config")
    assert code == 0, err
