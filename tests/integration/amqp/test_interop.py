"""brokerside and the Python AMQP clients people already run, on the same
RabbitMQ (scripts/brokers.sh): what an app publishes through brokerside, pika
and kombu consume, with its properties; what they publish, a brokerside Recv
subscriber gets. Both directions, for both libraries."""

import os
import threading

import kombu
import pika
import pytest

from brokerside.v1 import brokerside_pb2 as pb
from brokerside.v1 import brokerside_pb2_grpc as pb_grpc


@pytest.fixture
def amqp(sidecar, brokers):
    url = brokers["BROKERSIDE_AMQP_URL"]
    s = sidecar("--target", f"events={url}")
    channel = s.channel()
    yield url, pb_grpc.BrokerStub(channel)
    channel.close()


def queue_name(what):
    return f"interop.{what}.{os.getpid()}"


def declare(broker, queue, durable=False):
    broker.Send(pb.SendRequest(target="events", command=pb.Command(args=[b"queue.delete", queue.encode()])), timeout=5)
    command = pb.Command(args=[b"queue.declare", queue.encode()], options={"durable": pb.Value(boolean=durable)})
    broker.Send(pb.SendRequest(target="events", command=command), timeout=5)


def publish(broker, queue, body, **properties):
    message = pb.Message(body=body, **properties)
    ack = broker.Send(pb.SendRequest(target="events", publish=pb.Publish(routing_key=queue, message=message)),
                      timeout=5)
    assert ack.HasField("published")


def receive(broker, queue, count):
    """Subscribes to `queue`, acks and returns `count` deliveries."""
    stop = threading.Event()
    acks = []
    wake = threading.Condition()

    def requests():
        yield pb.RecvRequest(subscribe=pb.Subscribe(target="events", sources=[queue], credit=10))
        while not stop.is_set():
            with wake:
                wake.wait_for(lambda: acks or stop.is_set(), timeout=1)
                pending, acks[:] = list(acks), []
            if pending:
                yield pb.RecvRequest(ack=pb.Ack(delivery_ids=pending))

    stream = broker.Recv(requests(), timeout=30)
    assert next(stream).WhichOneof("kind") == "subscribed"
    got = []
    for response in stream:
        got.append(response.delivery)
        with wake:
            acks.append(response.delivery.delivery_id)
            wake.notify()
        if len(got) == count:
            break
    stop.set()
    with wake:
        wake.notify()
    stream.cancel()
    return got


def test_published_through_brokerside_consumed_by_pika(amqp):
    url, broker = amqp
    queue = queue_name("to-pika")
    declare(broker, queue)
    for i in range(20):
        publish(broker, queue, f"m{i}".encode(), content_type="text/plain", correlation_id=f"c{i}",
                delivery_mode=pb.DELIVERY_MODE_PERSISTENT, headers={"n": pb.Value(integer=i)})
    connection = pika.BlockingConnection(pika.URLParameters(url))
    channel = connection.channel()
    got = []
    for method, properties, body in channel.consume(queue, inactivity_timeout=5):
        assert method is not None, f"only {len(got)} of 20 arrived"
        got.append((body, properties))
        channel.basic_ack(method.delivery_tag)
        if len(got) == 20:
            break
    channel.cancel()
    connection.close()
    assert [body for body, _ in got] == [f"m{i}".encode() for i in range(20)]
    properties = got[7][1]
    assert properties.content_type == "text/plain"
    assert properties.correlation_id == "c7"
    assert properties.delivery_mode == 2
    assert properties.headers == {"n": 7}


def test_published_by_pika_consumed_through_brokerside(amqp):
    url, broker = amqp
    queue = queue_name("from-pika")
    declare(broker, queue)
    connection = pika.BlockingConnection(pika.URLParameters(url))
    channel = connection.channel()
    channel.confirm_delivery()
    for i in range(20):
        channel.basic_publish("", queue, f"p{i}".encode(),
                              pika.BasicProperties(message_id=f"id{i}", headers={"from": "pika"}))
    connection.close()
    got = receive(broker, queue, 20)
    assert [d.message.body for d in got] == [f"p{i}".encode() for i in range(20)]
    assert got[3].message.message_id == "id3"
    assert got[3].message.headers["from"].text == "pika"
    assert all(d.source == queue and not d.redelivered for d in got)


def test_kombu_both_ways(amqp):
    url, broker = amqp
    to_kombu, from_kombu = queue_name("to-kombu"), queue_name("from-kombu")
    declare(broker, to_kombu, durable=True)  # as kombu's SimpleQueue declares it
    declare(broker, from_kombu)
    publish(broker, to_kombu, b'{"order": 1}', content_type="application/json")
    with kombu.Connection(url) as connection:
        simple = connection.SimpleQueue(to_kombu, no_ack=False)
        message = simple.get(timeout=5)
        assert message.payload == {"order": 1}  # kombu decoded it by its content type
        message.ack()
        simple.close()
        producer = connection.Producer()
        producer.publish({"order": 2}, routing_key=from_kombu, serializer="json", retry=True)
    [delivery] = receive(broker, from_kombu, 1)
    assert delivery.message.content_type == "application/json"
    assert delivery.message.body == b'{"order": 2}'
