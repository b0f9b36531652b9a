"""The Kafka adapter against Apache Kafka 4.4 (KRaft, started by
scripts/brokers.sh with automatic topic creation off) and kafka-python, an
independent client: topics created and deleted through Send{command};
brokerside publishes (keys, headers, a chosen partition) read back by a
kafka-python consumer with every field intact and at the partition and
offset each PublishAck named; thousands in flight on one SendStream; an
unknown topic, an oversized record and bad input refused with their
reasons; an unreachable cluster UNAVAILABLE; settings librdkafka refuses
stopping startup with the field named. Recv as a consumer-group member:
kafka-python's records with their fields, sparse acks committing only the
acked prefix (a new member gets exactly what follows it), the credit as the
bound on what is outstanding, a requeued nack coming back flagged."""

import queue
import threading
import time
import uuid

import grpc
import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from brokerside.v1 import brokerside_pb2 as pb
from brokerside.v1 import brokerside_pb2_grpc as pb_grpc
import conftest
from conftest import http_get, run_binary


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


PARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_a_trace_in_the_calls_metadata_travels_as_record_headers_both_ways(broker, kafka_url):
    topic = new_topic(broker)
    broker.Send(publish(topic, b"traced"), metadata=(("traceparent", PARENT), ("tracestate", "bs=1")),
                timeout=30)
    (record,) = read_back(kafka_url, topic, 1, 1)
    assert dict(record.headers) == {"traceparent": PARENT.encode(), "tracestate": b"bs=1"}
    # A producer of its own in the same trace: its consumer through brokerside continues it.
    producer = KafkaProducer(bootstrap_servers=kafka_url.removeprefix("kafka://"))
    producer.send(topic, b"from kafka-python", headers=[("traceparent", PARENT.encode())])
    producer.flush()
    producer.close()
    m = Member(broker, [topic], group=f"g-{uuid.uuid4().hex[:6]}")
    try:
        assert m.subscribed.wait(60), m.error
        assert wait_for(lambda: len(m.deliveries) == 2), (len(m.deliveries), m.error)
        assert [(d.trace.traceparent, d.trace.tracestate) for d in m.deliveries] == [(PARENT, "bs=1"), (PARENT, "")]
        m.ack(*m.deliveries)
    finally:
        m.close()


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


class Member:
    """A Recv stream in a consumer group, its requests sent as the test goes."""

    def __init__(self, broker, topics, group, credit=100, kind=pb.SOURCE_KIND_DEFAULT):
        self.requests = queue.Queue()
        self.requests.put(pb.RecvRequest(subscribe=pb.Subscribe(
            target="k", sources=topics, group=group, credit=credit, kind=kind)))
        self.deliveries = []
        self.error = None
        self.subscribed = threading.Event()
        self.stream = broker.Recv(iter(self.requests.get, None), timeout=120)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        try:
            for response in self.stream:
                if response.WhichOneof("kind") == "subscribed":
                    self.subscribed.set()
                elif response.WhichOneof("kind") == "delivery":
                    self.deliveries.append(response.delivery)
        except grpc.RpcError as e:
            self.error = e

    def ack(self, *deliveries):
        self.requests.put(pb.RecvRequest(ack=pb.Ack(delivery_ids=[d.delivery_id for d in deliveries])))

    def nack(self, *deliveries, requeue):
        self.requests.put(pb.RecvRequest(nack=pb.Nack(
            delivery_ids=[d.delivery_id for d in deliveries], requeue=requeue)))

    def close(self):
        self.requests.put(None)  # half-close: acks before it are committed, then it leaves
        self.thread.join(60)


def wait_for(condition, timeout=30):
    """conftest.wait_for, with the longer wait a consumer group's join takes."""
    return conftest.wait_for(condition, timeout)


def produce_with_kafka_python(kafka_url, topic, values, key=None):
    producer = KafkaProducer(bootstrap_servers=kafka_url.removeprefix("kafka://"), acks="all")
    for v in values:
        producer.send(topic, v, key=key, headers=[("origin", b"kafka-python")])
    producer.flush(30)
    producer.close()


def test_kafka_python_records_reach_a_group_member_with_their_fields(broker, kafka_url):
    topic = new_topic(broker)
    produce_with_kafka_python(kafka_url, topic, [f"r{i}".encode() for i in range(5)], key=b"key")
    m = Member(broker, [topic], group=f"g-{uuid.uuid4().hex[:6]}")
    try:
        assert m.subscribed.wait(60), m.error
        assert wait_for(lambda: len(m.deliveries) == 5), (len(m.deliveries), m.error)
        for i, d in enumerate(m.deliveries):
            assert (d.source, d.partition, d.offset) == (topic, 0, i)
            assert d.message.body == f"r{i}".encode() and d.message.key == b"key"
            assert d.message.headers["origin"].bytes == b"kafka-python"
            assert d.message.timestamp.seconds > 0 and not d.redelivered
        m.ack(*m.deliveries)
    finally:
        m.close()


def test_sparse_acks_commit_the_prefix_and_a_new_member_gets_exactly_the_unacked(broker, kafka_url):
    topic = new_topic(broker)
    group = f"g-{uuid.uuid4().hex[:6]}"
    produce_with_kafka_python(kafka_url, topic, [str(i).encode() for i in range(6)])
    first = Member(broker, [topic], group=group)
    try:
        assert wait_for(lambda: len(first.deliveries) == 6), (len(first.deliveries), first.error)
        d = first.deliveries
        first.ack(d[0], d[1], d[3], d[5])  # 2 and 4 not acked
    finally:
        first.close()
    second = Member(broker, [topic], group=group)
    try:
        # The prefix 0-1 was committed: 2 onwards comes again (3 and 5 were
        # acked after an unacked one, so they come again too: at least once).
        assert wait_for(lambda: len(second.deliveries) >= 4), (len(second.deliveries), second.error)
        time.sleep(0.5)
        assert [x.offset for x in second.deliveries] == [2, 3, 4, 5]
        second.ack(*second.deliveries)
    finally:
        second.close()


def test_stats_show_each_member_its_partitions_committed_offsets_and_lag(sidecar, kafka_url):
    s = sidecar("--target", f"k={kafka_url}", "--targets.k.statistics_interval=200ms")
    with s.channel() as channel:
        broker = pb_grpc.BrokerStub(channel)
        topic = new_topic(broker, partitions=2)
        group = f"g-{uuid.uuid4().hex[:6]}"
        for i in range(10):
            broker.Send(publish(topic, str(i).encode(), partition=i % 2), timeout=30)
        m = Member(broker, [topic], group=group)
        try:
            assert wait_for(lambda: len(m.deliveries) == 10), (len(m.deliveries), m.error)
            m.ack(*[d for d in m.deliveries if d.partition == 0])  # 5 acked on 0, none on 1

            def member():
                subs = broker.Stats(pb.StatsRequest(target="k"), timeout=10).targets[0].subscriptions
                return subs[0] if len(subs) == 1 else None

            def settled():
                sub = member()
                return sub is not None and sub.unsettled == 5 and \
                    [(p.partition, p.committed) for p in sub.partitions] == [(0, 5), (1, 0)]
            assert wait_for(settled, timeout=15), member()
            sub = member()
            assert list(sub.sources) == [topic] and sub.group == group
            assert sub.holder.startswith(("ipv4:127.0.0.1:", "ipv6:[::1]:")) and sub.credit > 0
            assert sub.delivered == 10 and sub.dropped == 0
            p0, p1 = sub.partitions
            assert (p0.topic, p0.position, p0.high_watermark, p0.lag) == (topic, 5, 5, 0)
            # Nothing acked on 1: the group's offset there is its start, 0.
            assert (p1.position, p1.high_watermark, p1.lag) == (5, 5, 5)
            metrics = http_get(s.admin_port, "/metrics")[1]
            for series in ['brokerside_recv_streams{target="k"} 1', 'brokerside_recv_unsettled{target="k"} 5',
                           f'brokerside_recv_partition_lag{{target="k",group="{group}",topic="{topic}",'
                           f'partition="0"}} 0',
                           f'brokerside_recv_partition_lag{{target="k",group="{group}",topic="{topic}",'
                           f'partition="1"}} 5',
                           'brokerside_client_queued{target="k"} 0']:
                assert series in metrics.splitlines(), series
        finally:
            m.close()
        assert wait_for(lambda: not broker.Stats(pb.StatsRequest(target="k"),
                                                 timeout=10).targets[0].subscriptions)


def test_the_credit_pauses_the_partitions_and_a_requeued_nack_comes_back(broker, kafka_url):
    topic = new_topic(broker)
    produce_with_kafka_python(kafka_url, topic, [str(i).encode() for i in range(20)])
    m = Member(broker, [topic], group=f"g-{uuid.uuid4().hex[:6]}", credit=3)
    try:
        assert wait_for(lambda: len(m.deliveries) == 3), (len(m.deliveries), m.error)
        time.sleep(1)
        assert len(m.deliveries) == 3  # no more than the credit outstanding
        first = m.deliveries[0]
        m.nack(first, requeue=True)
        assert wait_for(lambda: len(m.deliveries) == 4)
        again = m.deliveries[3]
        assert (again.offset, again.redelivered, again.message.body) == (0, True, b"0")
        # Acking lets the rest through, never more than 3 outstanding.
        acked = {first.delivery_id}
        deadline = time.monotonic() + 60
        while len({x.offset for x in m.deliveries}) < 20 and time.monotonic() < deadline:
            ready = [x for x in list(m.deliveries) if x.delivery_id not in acked]
            assert len(ready) <= 3, len(ready)
            if ready:
                m.ack(*ready)
                acked.update(x.delivery_id for x in ready)
            time.sleep(0.05)
        assert sorted({x.offset for x in m.deliveries}) == list(range(20))
        m.ack(*[x for x in m.deliveries if x.delivery_id not in acked])
    finally:
        m.close()


def test_bad_subscriptions_are_refused(broker):
    for subscribe, words in ((pb.Subscribe(target="k", sources=["t"]), "consumer group is required"),
                             (pb.Subscribe(target="k", group="g"), "subscribe.sources"),
                             (pb.Subscribe(target="k", group="g", sources=["t"], kind=pb.SOURCE_KIND_SHARD),
                              "subscribe.kind")):
        with pytest.raises(grpc.RpcError) as e:
            next(broker.Recv(iter([pb.RecvRequest(subscribe=subscribe)]), timeout=10))
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert words in e.value.details(), e.value.details()


def test_two_members_of_a_group_share_the_partitions_each_record_once(broker, kafka_url):
    topic = new_topic(broker, partitions=2)
    group = f"g-{uuid.uuid4().hex[:6]}"
    a = Member(broker, [topic], group=group)
    b = None
    try:
        assert a.subscribed.wait(60), a.error
        b = Member(broker, [topic], group=group)
        assert b.subscribed.wait(60), b.error
        # Keys chosen so both partitions get records.
        for i in range(40):
            broker.Send(publish(topic, str(i).encode(), key=f"key{i}".encode()), timeout=30)
        both = lambda: a.deliveries + b.deliveries  # noqa: E731
        assert wait_for(lambda: len({(d.partition, d.offset) for d in both()}) == 40), len(both())
        for m in (a, b):
            m.ack(*m.deliveries)
        assert sorted({d.message.body for d in both()}) == sorted(str(i).encode() for i in range(40))
        # Each partition was one member's after the rebalance settled.
        assert a.deliveries and b.deliveries, (len(a.deliveries), len(b.deliveries))
    finally:
        a.close()
        if b:
            b.close()


def counters(broker):
    return broker.Stats(pb.StatsRequest(target="k"), timeout=5).targets[0].counters


def test_a_nack_without_requeue_goes_to_the_dead_letter_topic_then_is_committed(sidecar, kafka_url):
    dead = f"bs-dlq-{uuid.uuid4().hex[:8]}"
    s = sidecar("--target", f"k={kafka_url}", f"--targets.k.dead_letter_topic={dead}")
    with s.channel() as channel:
        broker = pb_grpc.BrokerStub(channel)
        command(broker, "topic.create", dead, 1)
        topic = new_topic(broker)
        group = f"g-{uuid.uuid4().hex[:6]}"
        produce_with_kafka_python(kafka_url, topic, [b"r0", b"r1", b"r2"], key=b"k1")
        m = Member(broker, [topic], group=group)
        try:
            assert wait_for(lambda: len(m.deliveries) == 3), (len(m.deliveries), m.error)
            d = m.deliveries
            m.ack(d[0], d[2])
            m.nack(d[1], requeue=False)
            assert wait_for(lambda: counters(broker).dead_lettered == 1), counters(broker)
        finally:
            m.close()
        [letter] = read_back(kafka_url, dead, 1, 1)
        assert (letter.value, letter.key) == (b"r1", b"k1")
        headers = dict(letter.headers)
        assert headers["origin"] == b"kafka-python"  # its own headers kept
        assert headers["brokerside.dead_letter.topic"] == topic.encode()
        assert headers["brokerside.dead_letter.partition"] == b"0"
        assert headers["brokerside.dead_letter.offset"] == b"1"
        assert headers["brokerside.dead_letter.group"] == group.encode()
        assert headers["brokerside.dead_letter.reason"] == b"nacked without requeue"
        # Everything was settled, so all three offsets are committed: the
        # group's next member gets only what is new.
        produce_with_kafka_python(kafka_url, topic, [b"r3"])
        again = Member(broker, [topic], group=group)
        try:
            assert wait_for(lambda: len(again.deliveries) == 1), (len(again.deliveries), again.error)
            time.sleep(0.5)
            assert [x.offset for x in again.deliveries] == [3]
            again.ack(*again.deliveries)
        finally:
            again.close()


def test_a_dead_letter_topic_that_cannot_take_it_gives_the_record_back(sidecar, kafka_url):
    # (The topic does not exist and the broker creates none.)
    s = sidecar("--target", f"k={kafka_url}", "--targets.k.dead_letter_topic=bs-no-such-dlq")
    with s.channel() as channel:
        broker = pb_grpc.BrokerStub(channel)
        topic = new_topic(broker)
        produce_with_kafka_python(kafka_url, topic, [b"keep me"])
        m = Member(broker, [topic], group=f"g-{uuid.uuid4().hex[:6]}")
        try:
            assert wait_for(lambda: len(m.deliveries) == 1), (len(m.deliveries), m.error)
            m.nack(m.deliveries[0], requeue=False)
            assert wait_for(lambda: len(m.deliveries) == 2), (len(m.deliveries), m.error)
            again = m.deliveries[1]
            assert (again.offset, again.redelivered, again.message.body) == (0, True, b"keep me")
            assert counters(broker).dead_lettered == 0
            m.ack(again)
        finally:
            m.close()


def test_acks_for_partitions_a_rebalance_took_away_are_ignored_and_counted(broker, kafka_url):
    topic = new_topic(broker, partitions=2)
    group = f"g-{uuid.uuid4().hex[:6]}"
    for i in range(10):
        broker.Send(publish(topic, str(i).encode(), partition=i % 2), timeout=30)
    a = Member(broker, [topic], group=group)
    b = None
    try:
        assert wait_for(lambda: len(a.deliveries) == 10), (len(a.deliveries), a.error)
        first = list(a.deliveries)
        b = Member(broker, [topic], group=group)
        # b gets one partition's records again (none were acked).
        assert wait_for(lambda: len(b.deliveries) == 5), (len(b.deliveries), b.error)
        taken = b.deliveries[0].partition
        a.ack(*first)
        # At least the acks for the partition b has now were refused (all
        # ten when the assignor took both away before giving one back).
        assert wait_for(lambda: counters(broker).acks_refused >= 5), counters(broker)
        assert counters(broker).acks_refused <= 10
        # b has it: its acks count.
        b.ack(*b.deliveries)
        assert {d.partition for d in b.deliveries} == {taken}
        a.ack(*[d for d in a.deliveries if d.delivery_id not in {x.delivery_id for x in first}])
    finally:
        a.close()
        if b:
            b.close()


def plain(value):
    """A reply Value as Python: maps with text keys, lists, ints, text."""
    kind = value.WhichOneof("kind")
    if kind == "map":
        return {plain(e.key): plain(e.value) for e in value.map.entries}
    if kind == "array":
        return [plain(v) for v in value.array.values]
    return getattr(value, kind)


def test_commands_describe_the_cluster_a_topic_its_offsets_and_a_groups_lag(broker, kafka_url):
    name = f"bs-{uuid.uuid4().hex[:10]}"
    command(broker, "topic.create", name, 3, **{"retention.ms": "3600000"})
    described = plain(command(broker, "topic.describe", name).reply)
    assert described["name"] == name
    assert [p["partition"] for p in described["partitions"]] == [0, 1, 2]
    assert all(p["leader"] == 1 and p["replicas"] == [1] and p["in_sync"] == [1]
               for p in described["partitions"])
    assert described["configs"]["retention.ms"] == "3600000"

    cluster = plain(command(broker, "metadata").reply)
    [b] = cluster["brokers"]
    assert (b["id"], f"{b['host']}:{b['port']}") == (1, kafka_url.removeprefix("kafka://"))
    assert name in [t["name"] for t in cluster["topics"]]

    for i in range(5):
        broker.Send(publish(name, str(i).encode(), partition=0), timeout=30)
    broker.Send(publish(name, b"x", partition=2), timeout=30)
    offsets = plain(command(broker, "offsets", name).reply)
    assert offsets == [{"partition": 0, "low": 0, "high": 5}, {"partition": 1, "low": 0, "high": 0},
                       {"partition": 2, "low": 0, "high": 1}]

    group = f"g-{uuid.uuid4().hex[:6]}"
    m = Member(broker, [name], group=group)
    try:
        assert wait_for(lambda: len(m.deliveries) == 6), (len(m.deliveries), m.error)
        m.ack(*[d for d in m.deliveries if d.partition == 0 and d.offset < 2])
    finally:
        m.close()
    # Committed: partition 0 up to offset 2; nothing past 0 on 1 and 2. The
    # stream ended (well: the client half-closed) once its last commit had
    # landed, so the group's offsets say so at once.
    assert m.error is None and not m.thread.is_alive()
    lag = plain(command(broker, "group.lag", group).reply)
    assert lag["lag"] == 3 + 0 + 1, lag
    assert lag["group"] == group
    by_partition = {p["partition"]: p for p in lag["partitions"]}
    assert {p: (x["topic"], x["high"], x["lag"]) for p, x in by_partition.items()} == {
        0: (name, 5, 3), 1: (name, 0, 0), 2: (name, 1, 1)}, lag
    assert by_partition[0]["committed"] == 2
    # Naming a topic the group never read gives all of it as its lag.
    other = new_topic(broker, partitions=2)
    broker.Send(publish(other, b"y", partition=1), timeout=30)
    lag = plain(command(broker, "group.lag", group, other).reply)
    assert lag["lag"] == 1, lag
    assert [(p["topic"], p["partition"], p["committed"], p["lag"]) for p in lag["partitions"]] == [
        (other, 0, -1, 0), (other, 1, -1, 1)], lag


def test_commands_refuse_what_they_cannot_do(broker):
    for args, code, words in (
            (["topic.describe", "bs-no-such-topic"], grpc.StatusCode.NOT_FOUND, "unknown topic"),
            (["offsets", "bs-no-such-topic"], grpc.StatusCode.NOT_FOUND, "unknown topic"),
            (["offsets"], grpc.StatusCode.INVALID_ARGUMENT, '["offsets", topic]'),
            (["metadata", "x"], grpc.StatusCode.INVALID_ARGUMENT, '["metadata"]'),
            (["group.lag", ""], grpc.StatusCode.INVALID_ARGUMENT, "group.lag"),
            (["topic.list"], grpc.StatusCode.INVALID_ARGUMENT, "is not one of topic.create")):
        with pytest.raises(grpc.RpcError) as e:
            command(broker, *args)
        assert e.value.code() == code, (args, e.value.details())
        assert words in e.value.details(), (args, e.value.details())


def read_committed(kafka_url, topic, count, timeout_ms=10000):
    """The topic's records as a read_committed consumer sees them (at most
    `count`, waiting up to timeout_ms for more)."""
    consumer = KafkaConsumer(bootstrap_servers=kafka_url.removeprefix("kafka://"), enable_auto_commit=False,
                             isolation_level="read_committed", consumer_timeout_ms=timeout_ms)
    consumer.assign([TopicPartition(topic, 0)])
    consumer.seek_to_beginning()
    got = []
    for record in consumer:
        got.append(record.value)
        if len(got) == count:
            break
    consumer.close()
    return got


def on_lease(lease, request):
    request.lease = lease
    return request


def test_a_lease_runs_transactions_that_commit_or_abort_for_read_committed_consumers(broker, kafka_url):
    topic = new_topic(broker)
    lease = broker.Acquire(pb.AcquireRequest(target="k"), timeout=30).lease
    txn = lambda verb: broker.Send(on_lease(lease, pb.SendRequest(  # noqa: E731
        target="k", command=pb.Command(args=[verb.encode()]))), timeout=60)
    assert txn("txn.begin").reply.text == "OK"
    for body in (b"c1", b"c2"):
        broker.Send(on_lease(lease, publish(topic, body)), timeout=30)
    assert txn("txn.commit").reply.text == "OK"
    assert txn("txn.begin").reply.text == "OK"  # the same producer, again
    broker.Send(on_lease(lease, publish(topic, b"a1")), timeout=30)
    assert txn("txn.abort").reply.text == "OK"
    broker.Send(publish(topic, b"plain"), timeout=30)  # outside any transaction
    # The aborted record is in the log (and its markers), never read.
    assert read_committed(kafka_url, topic, 3) == [b"c1", b"c2", b"plain"]
    with pytest.raises(grpc.RpcError) as e:
        txn("txn.commit")
    assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "no transaction is open" in e.value.details()
    broker.Release(pb.ReleaseRequest(lease=lease), timeout=10)


def test_a_lease_that_expires_aborts_its_open_transaction(broker, kafka_url):
    topic = new_topic(broker)
    ttl = pb.AcquireRequest(target="k")
    ttl.ttl.FromMilliseconds(1500)
    lease = broker.Acquire(ttl, timeout=30).lease
    broker.Send(on_lease(lease, pb.SendRequest(target="k", command=pb.Command(args=[b"txn.begin"]))),
                timeout=60)
    broker.Send(on_lease(lease, publish(topic, b"never")), timeout=30)
    time.sleep(2.5)  # the lease expires: its connection is closed, the transaction aborted
    broker.Send(publish(topic, b"after"), timeout=30)
    # An open transaction would hold read_committed consumers back (for the
    # broker's transaction timeout, a minute); aborted, they read on.
    assert read_committed(kafka_url, topic, 1, timeout_ms=8000) == [b"after"]
    with pytest.raises(grpc.RpcError) as e:
        broker.Send(on_lease(lease, publish(topic, b"late")), timeout=10)
    assert e.value.code() in (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.NOT_FOUND)


def test_transactions_need_a_lease_and_a_transaction(broker):
    with pytest.raises(grpc.RpcError) as e:
        command(broker, "txn.begin")
    assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "runs on a lease" in e.value.details()
    lease = broker.Acquire(pb.AcquireRequest(target="k"), timeout=30).lease
    try:
        for args, code, words in (([b"txn.abort"], grpc.StatusCode.FAILED_PRECONDITION, "txn.begin first"),
                                  ([b"txn.begin", b"x"], grpc.StatusCode.INVALID_ARGUMENT, "txn.commit")):
            with pytest.raises(grpc.RpcError) as e:
                broker.Send(on_lease(lease, pb.SendRequest(target="k", command=pb.Command(args=args))),
                            timeout=30)
            assert (e.value.code(), words in e.value.details()) == (code, True), e.value.details()
    finally:
        broker.Release(pb.ReleaseRequest(lease=lease), timeout=10)
