"""A short demo call against a running brokerside, from Python with grpcio:
health, Stats, and a Redis command through Send."""

import sys
import tempfile
import threading
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_tools import protoc
import grpc_tools

ROOT = Path(__file__).resolve().parents[1]
address = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:7300"

stubs = tempfile.mkdtemp(prefix="brokerside-demo-")
protoc.main(["protoc", f"-I{ROOT / 'proto'}", f"-I{Path(grpc_tools.__file__).parent / '_proto'}",
             f"--python_out={stubs}", f"--grpc_python_out={stubs}", "brokerside/v1/brokerside.proto"])
sys.path.insert(0, stubs)
from brokerside.v1 import brokerside_pb2 as pb  # noqa: E402
from brokerside.v1 import brokerside_pb2_grpc as pb_grpc  # noqa: E402

with grpc.insecure_channel(address) as channel:
    health = health_pb2_grpc.HealthStub(channel)
    for service in ("", "cache"):
        status = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5).status
        print(f"health {service or '(sidecar)'}: {health_pb2.HealthCheckResponse.ServingStatus.Name(status)}")

    broker = pb_grpc.BrokerStub(channel)
    for target in broker.Stats(pb.StatsRequest(), timeout=5).targets:
        print(f"target {target.name}: {target.adapter} {list(target.urls)} "
              f"(adapter implemented: {target.adapter_implemented})")

    for args in ([b"SET", b"demo:greeting", b"hello from brokerside"], [b"GET", b"demo:greeting"],
                 [b"INCR", b"demo:greeting"], [b"BLPOP", b"demo:list", b"1"]):
        request = pb.SendRequest(target="cache", command=pb.Command(args=args))
        shown = " ".join(a.decode() for a in args)
        try:
            reply = broker.Send(request, timeout=5).reply
            print(f"Send {shown} -> {reply.WhichOneof('kind')}: {getattr(reply, reply.WhichOneof('kind'))!r}")
        except grpc.RpcError as e:
            print(f"Send {shown} -> {e.code().name}: {e.details()}")

    # Pub/sub round trip: subscribe on a Recv stream, publish through Send,
    # and the message comes back on the stream.
    # (Ending the request stream ends the subscription: keep it open.)
    done = threading.Event()

    def requests():
        yield pb.RecvRequest(subscribe=pb.Subscribe(target="cache", sources=["demo:news"]))
        done.wait(10)

    stream = broker.Recv(requests(), timeout=10)
    first = next(stream)
    print(f"Recv subscribe demo:news -> subscribed (credit {first.subscribed.credit})")
    published = broker.Send(pb.SendRequest(target="cache", publish=pb.Publish(
        destination="demo:news", message=pb.Message(body=b"hello, subscribers"))), timeout=5).published
    print(f"Send publish demo:news -> delivered to {published.receivers} subscriber(s)")
    delivery = next(stream).delivery
    print(f"Recv -> delivery {delivery.delivery_id} from {delivery.source}: {delivery.message.body!r}")
    done.set()
    stream.cancel()
