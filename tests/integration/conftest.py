"""Shared fixtures of the Python integration tests: generated stubs, free
ports, and a brokerside process started and stopped by PID."""

import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import grpc
import pytest

ROOT = Path(__file__).resolve().parents[2]
_STUBS = Path(tempfile.mkdtemp(prefix="brokerside-stubs-"))


def _generate_stubs():
    from grpc_tools import protoc
    import grpc_tools

    include = Path(grpc_tools.__file__).parent / "_proto"
    args = [
        "protoc",
        f"-I{ROOT / 'proto'}",
        f"-I{include}",
        f"--python_out={_STUBS}",
        f"--grpc_python_out={_STUBS}",
        "brokerside/v1/brokerside.proto",
    ]
    if protoc.main(args) != 0:
        raise RuntimeError("protoc failed on brokerside.proto")
    sys.path.insert(0, str(_STUBS))


_generate_stubs()


def pytest_sessionfinish(session, exitstatus):
    # A skipped integration test is a failed run: the test command must prove
    # everything it claims to test.
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None and reporter.stats.get("skipped"):
        reporter.write_line("error: integration tests were skipped", red=True)
        session.exitstatus = 1


sys.path.insert(0, str(ROOT / "tests" / "support"))
from free_port import free_port  # noqa: E402  (re-exported: tests import it from here)


BINARY = os.environ.get("BROKERSIDE_BIN", str(ROOT / "build" / "sidecar" / "brokerside"))


class Sidecar:
    """A brokerside process on free loopback ports; stderr captured."""

    def __init__(self, args, tmp_path, credentials=None):
        self.credentials = credentials  # the listener's TLS, as a client must speak it
        # A port another test bound between free_port() and the sidecar's bind
        # is the harness's bad luck, not the sidecar's: new ports, at most twice.
        for attempt in range(3):
            self._start(args, tmp_path)
            try:
                self.wait_serving()
                return
            except RuntimeError as e:
                mine = (f"listen.grpc: cannot listen on {self.address}",
                        f"listen.admin: cannot listen on 127.0.0.1:{self.admin_port}")
                if attempt == 2 or "Address already in use" not in str(e) or not any(m in str(e) for m in mine):
                    raise
                self.close()

    def _start(self, args, tmp_path):
        self.port = free_port()
        self.admin_port = free_port()
        self.stderr_path = tmp_path / f"brokerside-{self.port}.log"
        self.stdout_path = tmp_path / f"brokerside-{self.port}.out"  # the access log, if on
        self._stderr = open(self.stderr_path, "wb")
        self._stdout = open(self.stdout_path, "wb")
        self.proc = subprocess.Popen(
            [BINARY, f"--listen=127.0.0.1:{self.port}", f"--admin=127.0.0.1:{self.admin_port}", *args],
            stdout=self._stdout,
            stderr=self._stderr,
        )
        self.address = f"127.0.0.1:{self.port}"

    def wait_serving(self, timeout=10):
        from grpc_health.v1 import health_pb2, health_pb2_grpc

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"brokerside exited {self.proc.returncode}: {self.log()}")
            try:
                with self.channel() as channel:
                    stub = health_pb2_grpc.HealthStub(channel)
                    reply = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=0.5)
                    if reply.status == health_pb2.HealthCheckResponse.SERVING:
                        return
            except grpc.RpcError:
                pass
            time.sleep(0.05)
        raise RuntimeError("brokerside did not become SERVING")

    def channel(self):
        if self.credentials is not None:
            return grpc.secure_channel(self.address, self.credentials)
        return grpc.insecure_channel(self.address)

    def terminate(self):
        self.proc.send_signal(signal.SIGTERM)

    def wait(self, timeout):
        return self.proc.wait(timeout=timeout)

    def log(self):
        self._stderr.flush()
        return self.stderr_path.read_text(errors="replace")

    def output(self):
        return self.stdout_path.read_text(errors="replace")

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._stderr.close()
        self._stdout.close()


@pytest.fixture
def sidecar(tmp_path):
    started = []

    def start(*args, credentials=None):
        s = Sidecar(list(args), tmp_path, credentials)
        started.append(s)
        return s

    yield start
    for s in started:
        s.close()


def wait_for(condition, timeout=10):
    """Polls `condition` every 20 ms until it holds or `timeout` seconds
    pass; returns its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def run_binary(*args, timeout=10, env=None):
    """Runs brokerside to completion; returns (exit code, stdout, stderr)."""
    done = subprocess.run([BINARY, *args], capture_output=True, text=True, timeout=timeout, env=env)
    return done.returncode, done.stdout, done.stderr


@pytest.fixture
def brokers():
    """The brokers scripts/brokers.sh started: its env file as a dict. A test
    that needs a broker fails, never skips, when the file is missing."""
    run_dir = Path(os.environ.get("BROKERSIDE_RUN_DIR", ROOT / ".run" / "brokers"))
    path = run_dir / "brokers.env"
    assert path.exists(), f"no {path}: start the brokers with scripts/brokers.sh start"
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


def http_get(port, path):
    """(status, body) of a GET on the sidecar's admin listener."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
