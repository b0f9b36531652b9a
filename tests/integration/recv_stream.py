"""A Recv stream on a thread of its own, for tests that watch what several
streams receive at once."""

import threading

import grpc

from brokerside.v1 import brokerside_pb2 as pb


class Stream:
    """A Recv stream on a thread of its own, collecting message bodies."""

    def __init__(self, stub, target, sources, kind=pb.SOURCE_KIND_DEFAULT, credit=10000, timeout=120):
        self.bodies, self.subscribed, self.error = [], threading.Event(), None
        self._stop = threading.Event()

        def requests():
            yield pb.RecvRequest(subscribe=pb.Subscribe(target=target, sources=sources, kind=kind, credit=credit))
            self._stop.wait(120)

        self._call = stub.Recv(requests(), timeout=timeout)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        try:
            for r in self._call:
                if r.HasField("subscribed"):
                    self.subscribed.set()
                elif r.HasField("delivery"):
                    self.bodies.append(r.delivery.message.body)
        except grpc.RpcError as e:
            if not self._stop.is_set():
                self.error = e

    def close(self):
        self._stop.set()
        self._call.cancel()
        self._thread.join(10)
