"""A load of SETs through a sidecar for failover tests: `threads` threads,
each writing keys of its own ("<prefix>:<thread>:<n>" = "v<n>") one at a
time with a deadline, until stop(). Every call is recorded as (started,
ended, status code, key, value), monotonic seconds."""

import threading
import time

import grpc

from brokerside.v1 import brokerside_pb2 as pb
from brokerside.v1 import brokerside_pb2_grpc as pb_grpc


class SetLoad:
    def __init__(self, sidecar, target, prefix, threads=4, deadline=3):
        self.calls = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(sidecar, target, prefix, k, deadline))
                         for k in range(threads)]
        for t in self._threads:
            t.start()

    def _run(self, sidecar, target, prefix, k, deadline):
        with sidecar.channel() as channel:
            broker = pb_grpc.BrokerStub(channel)
            n = 0
            while not self._stop.is_set() and n < 100_000:
                key, value = f"{prefix}:{k}:{n}", f"v{n}"
                started = time.monotonic()
                try:
                    broker.Send(pb.SendRequest(target=target, command=pb.Command(
                        args=[b"SET", key.encode(), value.encode()])), timeout=deadline)
                    code = grpc.StatusCode.OK
                except grpc.RpcError as e:
                    code = e.code()
                self.calls.append((started, time.monotonic(), code, key, value))
                n += 1

    def stop(self):
        self._stop.set()
        for t in self._threads:
            t.join(30)

    def failed(self):
        return [c for c in self.calls if c[2] != grpc.StatusCode.OK]
