"""A client process that the bad-input test kills -9 mid-call: it opens
`count` channels, each its own TCP connection, starts one call on each (a
unary Send, a SendStream with an operation in flight, a Recv on a Redis
channel, a Recv on an AMQP queue, in turn), says "started" and waits to be
killed. With `--recv-only` every call is an AMQP Recv that reads its
deliveries and never acks them; it says "held N" once it holds N.

    python vanishing_client.py ADDRESS COUNT AMQP_QUEUE [--recv-only N]
"""

import sys
import threading
import time

import grpc

from brokerside.v1 import brokerside_pb2 as pb
from brokerside.v1 import brokerside_pb2_grpc as pb_grpc


def forever(first):
    yield first
    time.sleep(600)


def main():
    address, count, amqp_queue = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    recv_only = int(sys.argv[5]) if len(sys.argv) > 5 and sys.argv[4] == "--recv-only" else 0
    keep = []
    held = []
    lock = threading.Lock()

    def read(stream):
        try:
            for response in stream:
                if response.HasField("delivery"):
                    with lock:
                        held.append(response.delivery.delivery_id)
        except grpc.RpcError:
            pass

    for i in range(count):
        channel = grpc.insecure_channel(address, options=[("grpc.use_local_subchannel_pool", 1)])
        stub = pb_grpc.BrokerStub(channel)
        kind = 3 if recv_only else i % 4
        if kind == 0:
            call = stub.Send.future(pb.SendRequest(target="cache", command=pb.Command(args=[b"GET", b"k"])),
                                    timeout=60)
        elif kind == 1:
            get = pb.SendRequest(target="cache", command=pb.Command(args=[b"GET", b"k"]))
            call = stub.SendStream(forever(pb.SendStreamRequest(id=1, send=get)), timeout=60)
        elif kind == 2:
            call = stub.Recv(forever(pb.RecvRequest(subscribe=pb.Subscribe(target="cache", sources=["vanish"]))),
                             timeout=60)
        else:
            subscribe = pb.Subscribe(target="events", sources=[amqp_queue], credit=5)
            call = stub.Recv(forever(pb.RecvRequest(subscribe=subscribe)), timeout=60)
            if recv_only:
                threading.Thread(target=read, args=(call,), daemon=True).start()
        keep.append((channel, call))
    print("started", flush=True)
    if recv_only:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with lock:
                if len(held) >= recv_only:
                    break
            time.sleep(0.02)
        with lock:
            print(f"held {len(held)}", flush=True)
    time.sleep(600)


if __name__ == "__main__":
    main()
