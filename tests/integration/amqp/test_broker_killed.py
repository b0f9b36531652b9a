"""RabbitMQ killed -9 while apps publish through brokerside, then restarted:
every publish that returned OK is in the queue afterwards, every other one
got an error status (UNAVAILABLE, ABORTED or DEADLINE_EXCEEDED) within its
deadline, and publishing works again once the broker is back. The RabbitMQ
here is the test's own (its own epmd, ports and data), killed by PID."""

import os
import subprocess
import threading
import time

import grpc
import pika
import pytest

from brokerside.v1 import brokerside_pb2 as pb
from brokerside.v1 import brokerside_pb2_grpc as pb_grpc
from conftest import free_port


class OwnRabbit:
    """rabbitmq-server started directly, as scripts/brokers.sh does, so that
    it can be killed -9 and started again on the same port and data."""

    def __init__(self, tmp_path):
        self.dir = tmp_path / "rabbit"
        for sub in ("mnesia", "log", "home"):
            (self.dir / sub).mkdir(parents=True)
        (self.dir / "enabled_plugins").write_text("[].")
        self.port, self.epmd_port, self.dist_port = free_port(), free_port(), free_port()
        self.env = dict(os.environ, HOME=str(self.dir / "home"), ERL_EPMD_PORT=str(self.epmd_port),
                        ERL_EPMD_ADDRESS="127.0.0.1", RABBITMQ_NODENAME=f"killed-{self.port}@localhost",
                        RABBITMQ_NODE_IP_ADDRESS="127.0.0.1", RABBITMQ_NODE_PORT=str(self.port),
                        RABBITMQ_DIST_PORT=str(self.dist_port), RABBITMQ_MNESIA_BASE=str(self.dir / "mnesia"),
                        RABBITMQ_LOG_BASE=str(self.dir / "log"),
                        RABBITMQ_ENABLED_PLUGINS_FILE=str(self.dir / "enabled_plugins"),
                        RABBITMQ_CONFIG_FILE=str(self.dir / "rabbitmq"),
                        RABBITMQ_ADVANCED_CONFIG_FILE=str(self.dir / "advanced.config"),
                        RABBITMQ_CONF_ENV_FILE=str(self.dir / "rabbitmq-env.conf"))
        self.epmd = subprocess.Popen(["epmd", "-port", str(self.epmd_port), "-address", "127.0.0.1"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.server = None
        self.url = f"amqp://guest:guest@127.0.0.1:{self.port}/%2f"
        self.start()

    def start(self, timeout=60):
        log = open(self.dir / "log" / "stdout.log", "ab")
        self.server = subprocess.Popen(["/usr/lib/rabbitmq/bin/rabbitmq-server"], env=self.env,
                                       stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                pika.BlockingConnection(pika.URLParameters(self.url + "?connection_attempts=1")).close()
                return
            except Exception:
                time.sleep(0.2)
        raise RuntimeError(f"rabbitmq did not start; see {self.dir / 'log'}")

    def beam_pid(self):
        out = subprocess.run(["pgrep", "-P", str(self.server.pid)], capture_output=True, text=True).stdout
        return int(out.split()[0])

    def kill9(self):
        os.kill(self.beam_pid(), 9)
        self.server.wait(timeout=30)

    def close(self):
        if self.server and self.server.poll() is None:
            try:
                os.kill(self.beam_pid(), 9)
            except (IndexError, ProcessLookupError):
                pass
            self.server.kill()
            self.server.wait()
        self.epmd.kill()
        self.epmd.wait()


@pytest.fixture
def rabbit(tmp_path):
    r = OwnRabbit(tmp_path)
    yield r
    r.close()


def test_publishes_that_returned_ok_survive_a_kill_9(sidecar, rabbit):
    s = sidecar("--target", f"events={rabbit.url}")
    queue = "durable.orders"
    with s.channel() as channel:
        broker = pb_grpc.BrokerStub(channel)
        declare = pb.Command(args=[b"queue.declare", queue.encode()], options={"durable": pb.Value(boolean=True)})
        broker.Send(pb.SendRequest(target="events", command=declare), timeout=5)

        outcomes = {}  # message id -> (status code, seconds taken)
        lock = threading.Lock()
        stop = threading.Event()
        deadline = 3.0

        def publisher(worker):
            i = 0
            while not stop.is_set():
                body = f"{worker}-{i}".encode()
                message = pb.Message(body=body, delivery_mode=pb.DELIVERY_MODE_PERSISTENT)
                request = pb.SendRequest(target="events", publish=pb.Publish(routing_key=queue, message=message))
                started = time.monotonic()
                try:
                    broker.Send(request, timeout=deadline)
                    code = grpc.StatusCode.OK
                except grpc.RpcError as e:
                    code = e.code()
                with lock:
                    outcomes[body] = (code, time.monotonic() - started)
                i += 1
                if code != grpc.StatusCode.OK:
                    time.sleep(0.05)

        workers = [threading.Thread(target=publisher, args=(w,)) for w in range(4)]
        for w in workers:
            w.start()
        time.sleep(1.0)
        rabbit.kill9()
        killed_at = time.monotonic()
        rabbit.start()
        back_at = time.monotonic()
        # Publishing works again once the broker is back (bounded: 20 s).
        def oks():
            with lock:
                return sum(1 for code, _ in outcomes.values() if code == grpc.StatusCode.OK)

        base = oks()
        while time.monotonic() < back_at + 20 and oks() - base < 50:
            time.sleep(0.1)
        ok_after = oks() - base
        stop.set()
        for w in workers:
            w.join(timeout=deadline + 5)

    # What the broker holds now: every publish that returned OK, none twice
    # (a failed one may be there too: its outcome was unknown or refused).
    connection = pika.BlockingConnection(pika.URLParameters(rabbit.url))
    channel = connection.channel()
    stored = []
    while True:
        method, _, body = channel.basic_get(queue, auto_ack=True)
        if method is None:
            break
        stored.append(body)
    connection.close()

    codes = {}
    for code, _ in outcomes.values():
        codes[code.name] = codes.get(code.name, 0) + 1
    acknowledged = {body for body, (code, _) in outcomes.items() if code == grpc.StatusCode.OK}
    slowest = max(took for _, took in outcomes.values())
    print(f"\npublishes: {len(outcomes)}, by status: {codes}; in the queue afterwards: {len(stored)}; "
          f"broker down {back_at - killed_at:.1f} s; slowest call {slowest:.2f} s (deadline {deadline} s)")
    assert ok_after >= 50, "publishing did not resume after the restart"
    missing = acknowledged - set(stored)
    assert not missing, f"{len(missing)} publishes returned OK and are gone, e.g. {sorted(missing)[:5]}"
    assert len(stored) == len(set(stored)), "a message is in the queue twice"
    allowed = {"OK", "UNAVAILABLE", "ABORTED", "DEADLINE_EXCEEDED"}
    assert set(codes) <= allowed, codes
    assert codes.get("UNAVAILABLE", 0) + codes.get("ABORTED", 0) + codes.get("DEADLINE_EXCEEDED", 0) > 0, \
        "the kill went unnoticed: nothing failed"
    assert slowest < deadline + 0.5, f"a call outlived its deadline: {slowest:.2f} s"
