"""What the fault tests share: steady Send load from concurrent gRPC clients
(each thread its own channel, bounded in calls and time), a Stats watcher,
and the figures taken from what they recorded."""

import statistics
import threading
import time
from collections import Counter
from dataclasses import dataclass

import grpc

from brokerside.v1 import brokerside_pb2 as pb
from brokerside.v1 import brokerside_pb2_grpc as pb_grpc

# The codes a call may fail with while its broker is killed and restarted.
BROKER_DOWN_CODES = {"UNAVAILABLE", "ABORTED", "DEADLINE_EXCEEDED"}
# How far past its deadline a call may return.
DEADLINE_SLACK = 0.050


@dataclass
class Outcome:
    key: object  # what the call wrote, to look for afterwards
    code: str  # grpc.StatusCode name
    started: float  # time.monotonic()
    ended: float
    deadline: float  # seconds the call was given


class Load:
    """`workers` threads, each on its own channel, each calling `call(stub,
    worker, i, deadline)` -> (key, code name) in a loop until stop() (or
    `max_calls` per worker, or `max_seconds`). With `rate`, each worker
    starts that many calls a second (catching up a few it fell behind, not
    more): a steady offered load whose throughput the machine's other work
    hardly moves, so a dip is the sidecar's. Without, it calls as fast as it
    can, pausing after a failed call so a fast-failing outage is no busy loop."""

    def __init__(self, address, call, workers, deadline, rate=None, max_calls=100_000, max_seconds=90,
                 pause_after_failure=0.02):
        self.address, self.call, self.deadline, self.rate = address, call, deadline, rate
        self.max_calls, self.max_seconds, self.pause = max_calls, max_seconds, pause_after_failure
        self.outcomes = [[] for _ in range(workers)]
        self.oks = [0] * workers  # OK calls per worker, for progress checks
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(w,), daemon=True) for w in range(workers)]

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def stop(self):
        self.stopping.set()
        for t in self.threads:
            t.join(timeout=self.deadline + 10)
            assert not t.is_alive(), "a load thread did not stop"

    def all(self):
        return [o for per_worker in self.outcomes for o in per_worker]

    def ok_count(self):
        return sum(self.oks)

    def _run(self, worker):
        give_up = time.monotonic() + self.max_seconds
        interval = 1 / self.rate if self.rate else 0
        next_at = time.monotonic()
        with grpc.insecure_channel(self.address) as channel:
            stub = pb_grpc.BrokerStub(channel)
            for i in range(self.max_calls):
                if self.stopping.is_set() or time.monotonic() > give_up:
                    return
                if interval:
                    now = time.monotonic()
                    if next_at > now:
                        time.sleep(next_at - now)
                    elif next_at < now - 5 * interval:
                        next_at = now  # far behind (a call waited): no burst to catch up
                    next_at += interval
                started = time.monotonic()
                key, code = self.call(stub, worker, i, self.deadline)
                ended = time.monotonic()
                self.outcomes[worker].append(Outcome(key, code, started, ended, self.deadline))
                if code == "OK":
                    self.oks[worker] += 1
                elif not interval:
                    time.sleep(self.pause)


def send(stub, request, deadline):
    """One Send: the status code's name."""
    try:
        stub.Send(request, timeout=deadline)
        return "OK"
    except grpc.RpcError as e:
        return e.code().name


class StatsWatch:
    """Polls Stats for one target every `interval` s on its own channel:
    the most connections and leases seen, and the last reply."""

    def __init__(self, address, target, interval=0.2):
        self.address, self.target, self.interval = address, target, interval
        self.max_connections = 0
        self.max_leases = 0
        self.samples = 0
        self.failures = Counter()
        self.last = None
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.stopping.set()
        self.thread.join(timeout=10)

    def _run(self):
        with grpc.insecure_channel(self.address) as channel:
            stub = pb_grpc.BrokerStub(channel)
            while not self.stopping.wait(self.interval):
                try:
                    t = stub.Stats(pb.StatsRequest(target=self.target), timeout=2).targets[0]
                except grpc.RpcError as e:
                    self.failures[e.code().name] += 1
                    continue
                self.samples += 1
                self.last = t
                self.max_connections = max(self.max_connections, len(t.connections))
                self.max_leases = max(self.max_leases, len(t.leases))


def stats(address, target):
    with grpc.insecure_channel(address) as channel:
        return pb_grpc.BrokerStub(channel).Stats(pb.StatsRequest(target=target), timeout=5).targets[0]


def settled_stats(address, target, timeout=10):
    """Stats once nothing is in flight, waiting or leased (bounded)."""
    deadline = time.monotonic() + timeout
    while True:
        t = stats(address, target)
        quiet = t.pool.in_flight == 0 and t.pool.waiters == 0 and t.pool.leased == 0 and not t.leases
        if quiet or time.monotonic() > deadline:
            return t
        time.sleep(0.1)


def by_code(outcomes):
    return dict(sorted(Counter(o.code for o in outcomes).items()))


def slowest(outcomes):
    """The call that took longest past its own deadline: (seconds taken,
    deadline, code)."""
    worst = max(outcomes, key=lambda o: (o.ended - o.started) - o.deadline)
    return worst.ended - worst.started, worst.deadline, worst.code


def ok_per_bucket(outcomes, start, buckets, width=0.1):
    """OK completions in each of `buckets` intervals of `width` s from `start`."""
    counts = [0] * buckets
    for o in outcomes:
        if o.code == "OK" and o.ended >= start:
            k = int((o.ended - start) / width)
            if k < buckets:
                counts[k] += 1
    return counts


def recovery_time(outcomes, killed_at, back_at, before=1.5, width=0.1, horizon=6.0, share=0.9):
    """(pre-kill OK calls per bucket, seconds from `back_at` until the
    throughput is back to `share` of it, or None). Pre-kill: the median
    bucket over the `before` s up to the kill. Back: the end of the first
    bucket that, with the two after it (so one burst of released waiters
    does not count), averages at least `share` of that."""
    pre = statistics.median(ok_per_bucket(outcomes, killed_at - before, round(before / width), width))
    after = ok_per_bucket(outcomes, back_at, round(horizon / width) + 2, width)
    for k in range(len(after) - 2):
        if sum(after[k:k + 3]) / 3 >= share * pre:
            return pre, (k + 1) * width
    return pre, None


def first_ok_after(outcomes, moment):
    """Seconds from `moment` to the first OK call that started after it."""
    return min((o.ended - moment for o in outcomes if o.code == "OK" and o.started >= moment), default=None)


def wait_for_throughput(load, seconds, minimum):
    """Waits (up to `seconds`) until `minimum` more calls have succeeded."""
    base = load.ok_count()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and load.ok_count() - base < minimum:
        time.sleep(0.05)
