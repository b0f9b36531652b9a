"""Brokers of a test's own, for what the shared ones from scripts/brokers.sh
must not suffer (kill -9 and restart, a password, a TLS listener): each on
free loopback ports and in the test's own directory, remembered and killed
by PID, started again on the same port and data."""

import base64
import os
import socket
import subprocess
import time
import uuid

import pika

from conftest import ROOT, free_port


def make_certificates(directory):
    """A CA (ca.pem) and a server certificate for localhost and 127.0.0.1
    signed by it (server.pem, server.key), in `directory`."""
    key = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
    (directory / "san.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1")
    for command in (
        f"openssl req -x509 {key} -keyout ca.key -out ca.pem -days 1 -subj /CN=brokerside-test-ca",
        f"openssl req {key} -keyout server.key -out server.csr -subj /CN=localhost",
        "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 "
        "-extfile san.ext -out server.pem",
    ):
        subprocess.run(command.split(), cwd=directory, check=True, capture_output=True)
    # Brokers run as root here but read the key as any user would.
    (directory / "server.key").chmod(0o644)


class PortTaken(RuntimeError):
    """A broker could not bind a port free_port() had found free."""


class OwnProcess:
    """A broker that is one process of ours, `self.proc`: kill9() kills it
    (-9) and waits; close() does so if it still runs."""

    proc = None

    def kill9(self):
        self.proc.kill()
        self.proc.wait(timeout=10)

    def close(self):
        if self.proc and self.proc.poll() is None:
            self.kill9()


class OwnNats(OwnProcess):
    """nats-server with the options a test gives (--user/--pass, --auth, --tls with
    certificates made here, JetStream with a file store in its directory, one
    NKEY user or other `config` in a configuration file, `extra_args`),
    started again on the same port and store after kill9()."""

    def __init__(self, tmp_path, user=None, password=None, token=None, tls=False, jetstream=False, nkey=None,
                 config="", extra_args=(), name="nats"):
        self.dir = tmp_path / name
        self.dir.mkdir(parents=True)
        self.port = free_port()
        args = ["-a", "127.0.0.1", "-p", str(self.port), "-l", str(self.dir / "nats.log")]
        if user:
            args += ["--user", user, "--pass", password]
        if token:
            args += ["--auth", token]
        if tls:
            make_certificates(self.dir)
            args += ["--tls", "--tlscert", str(self.dir / "server.pem"), "--tlskey", str(self.dir / "server.key")]
        if jetstream:
            args += ["-js", "-sd", str(self.dir / "store")]
        if nkey:  # the public key of the one user allowed in
            config += "authorization { users = [ { nkey: %s } ] }\n" % nkey
        if config:
            conf = self.dir / "nats.conf"
            conf.write_text(config)
            args += ["-c", str(conf)]
        self.args = args + list(extra_args)
        self.proc = None
        self.start()

    def start(self, timeout=20):
        self.proc = subprocess.Popen(["nats-server", *self.args], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    if s.recv(4).startswith(b"INFO"):
                        self.accepted_at = time.monotonic()
                        return
            except OSError:
                pass
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        self.close()  # (if it still runs, it is not ours to leave behind)
        raise RuntimeError(f"nats-server did not start; see {self.dir / 'nats.log'}")



class OwnRedis(OwnProcess):
    """redis-server with appendonly yes and appendfsync always: a write it
    answered OK is on disk, so it survives kill -9."""

    def __init__(self, tmp_path, extra_args=(), name="redis"):
        self.dir = tmp_path / name
        self.dir.mkdir(parents=True)
        self.port = free_port()
        self.extra_args = list(extra_args)
        self.proc = None
        self.url = f"redis://127.0.0.1:{self.port}"
        self.start()

    def start(self, timeout=20):
        """Starts it (again); returns once it answers PING (or a -NOAUTH,
        which says the same: it is up), noting when in `accepted_at`."""
        self.proc = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--dir", str(self.dir),
             "--appendonly", "yes", "--appendfsync", "always", "--save", "", "--daemonize", "no",
             "--logfile", str(self.dir / "redis.log"), *self.extra_args],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.answers():
                self.accepted_at = time.monotonic()
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.01)
        raise RuntimeError(f"redis-server did not start; see {self.dir / 'redis.log'}")

    def answers(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                reply = s.recv(64)
                return reply.startswith(b"+PONG") or reply.startswith(b"-NOAUTH")
        except OSError:
            return False



class OwnRabbit:
    """rabbitmq-server started directly, as scripts/brokers.sh does, so that
    it can be killed -9 and started again on the same port and data.
    `conf` lines go into its rabbitmq.conf (e.g. default_user / default_pass)."""

    def __init__(self, tmp_path, tls=False, conf=(), user="guest", password="guest"):
        self.dir = tmp_path / "rabbit"
        for sub in ("mnesia", "log", "home"):
            (self.dir / sub).mkdir(parents=True)
        (self.dir / "enabled_plugins").write_text("[].")
        self.port, self.epmd_port, self.dist_port = free_port(), free_port(), free_port()
        self.tls_port = free_port()
        lines = list(conf)
        if tls:
            self.make_certificates()
            d = self.dir
            lines += [f"listeners.ssl.default = 127.0.0.1:{self.tls_port}",
                      f"ssl_options.cacertfile = {d / 'ca.pem'}",
                      f"ssl_options.certfile = {d / 'server.pem'}",
                      f"ssl_options.keyfile = {d / 'server.key'}",
                      "ssl_options.verify = verify_none",
                      "ssl_options.fail_if_no_peer_cert = false"]
        if lines:
            (self.dir / "rabbitmq.conf").write_text("".join(line + "\n" for line in lines))
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
        self.url = f"amqp://{user}:{password}@127.0.0.1:{self.port}/%2f"
        self.start()

    def start(self, timeout=60):
        """Starts it (again); returns once an AMQP client can connect.
        `accepted_at`: when its listener first took a connection."""
        log = open(self.dir / "log" / "stdout.log", "ab")
        self.server = subprocess.Popen(["/usr/lib/rabbitmq/bin/rabbitmq-server"], env=self.env,
                                       stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        deadline = time.monotonic() + timeout
        self.accepted_at = None
        while time.monotonic() < deadline:
            if self.server.poll() is None and self.accepting():
                self.accepted_at = self.accepted_at or time.monotonic()
                try:
                    pika.BlockingConnection(pika.URLParameters(self.url + "?connection_attempts=1")).close()
                    return
                except Exception:
                    pass
            time.sleep(0.02)
        raise RuntimeError(f"rabbitmq did not start; see {self.dir / 'log'}")

    def accepting(self):
        """Whether its AMQP listener takes connections (RabbitMQ opens it
        last, once the node and its queues are up)."""
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            return True
        except OSError:
            return False

    def ctl(self, *args):
        """rabbitmqctl against this node; what it printed."""
        node = self.env["RABBITMQ_NODENAME"]
        return subprocess.run(["/usr/lib/rabbitmq/bin/rabbitmqctl", "-n", node, *args], env=self.env, check=True,
                              capture_output=True, timeout=60, text=True).stdout

    def sync_metadata(self):
        """Writes what was declared (queues, exchanges, bindings) to disk now.
        A durable queue's declaration reaches RabbitMQ's disk only with its
        transaction log, which a kill -9 a second later can still beat on a
        loaded machine (the queue was then gone after the restart, and with it
        everything published to it): tests that kill -9 call this first."""
        self.ctl("eval", "mnesia:sync_log().")

    def make_certificates(self):
        make_certificates(self.dir)

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


class OwnKafka(OwnProcess):
    """A single-node Apache Kafka (KRaft) of the test's own, as
    scripts/brokers.sh starts one, that can be killed -9 and started again on
    the same ports and log. With `sasl_users` ({user: password}) it also
    listens with SASL_SSL (a certificate made here; PLAIN users in its JAAS
    line, the same users for SCRAM-SHA-512 made at format time): `sasl_port`,
    `dir / "ca.pem"`. `version` "3.9" runs Kafka 3.9 (scripts/kafka/pom-3.9.xml)
    instead of 4.4."""

    def __init__(self, tmp_path, sasl_users=None, version="4.4"):
        self.dir = tmp_path / "kafka"
        (self.dir / "logs").mkdir(parents=True)
        self.sasl_users = sasl_users
        self.pick_ports()
        classpath = (ROOT / ".cache" / "kafka" / ("classpath.txt" if version == "4.4" else
                                                   f"classpath-{version}.txt")).read_text().strip()
        self.java = ["java", "-Xms64m", "-Xmx384m", "-XX:+UseSerialGC", "-cp", classpath,
                     f"-Dlog4j2.configurationFile={self.dir / 'log4j2.properties'}",
                     f"-Dkafka.logs.dir={self.dir / 'logs'}"]
        if sasl_users:
            make_certificates(self.dir)
            # Kafka reads a PEM keystore as the key then its certificate chain.
            (self.dir / "keystore.pem").write_text((self.dir / "server.key").read_text() +
                                                   (self.dir / "server.pem").read_text())
        self.write_properties()
        (self.dir / "log4j2.properties").write_text("\n".join([
            "rootLogger.level=INFO", "rootLogger.appenderRef.file.ref=file", "appender.file.type=File",
            "appender.file.name=file", "appender.file.fileName=${sys:kafka.logs.dir}/server.log",
            "appender.file.layout.type=PatternLayout", "appender.file.layout.pattern=[%d] %p %m (%c)%n", ""]))
        cluster = "-"
        while cluster.startswith("-"):  # (Kafka refuses ids that look like options)
            cluster = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        users = []
        for user, password in (sasl_users or {}).items():
            users += ["--add-scram", f'SCRAM-SHA-512=[name="{user}",password="{password}"]']
        subprocess.run([*self.java, "kafka.tools.StorageTool", "format", "-t", cluster, "-c",
                        str(self.dir / "server.properties"), *users], check=True, capture_output=True, timeout=120)
        self.proc = None
        self.started = False

    def pick_ports(self):
        self.port, self.controller = free_port(), free_port()
        self.sasl_port = free_port() if self.sasl_users else None
        self.url = f"kafka://127.0.0.1:{self.port}"

    def write_properties(self):
        sasl_users = self.sasl_users
        listeners = [f"PLAINTEXT://127.0.0.1:{self.port}"]
        protocols = "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
        extra = []
        if sasl_users:
            listeners.append(f"SASL_SSL://127.0.0.1:{self.sasl_port}")
            protocols += ",SASL_SSL:SASL_SSL"
            plain_users = " ".join(f'user_{u}="{p}"' for u, p in sasl_users.items())
            extra = ["sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-512",
                     "listener.name.sasl_ssl.plain.sasl.jaas.config="
                     f"org.apache.kafka.common.security.plain.PlainLoginModule required {plain_users};",
                     "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config="
                     "org.apache.kafka.common.security.scram.ScramLoginModule required;",
                     "ssl.keystore.type=PEM", f"ssl.keystore.location={self.dir / 'keystore.pem'}"]
        (self.dir / "server.properties").write_text("\n".join([
            "process.roles=broker,controller", "node.id=1",
            f"controller.quorum.voters=1@127.0.0.1:{self.controller}",
            f"listeners={','.join(listeners)},CONTROLLER://127.0.0.1:{self.controller}",
            f"advertised.listeners={','.join(listeners)}",
            "controller.listener.names=CONTROLLER", "inter.broker.listener.name=PLAINTEXT",
            f"listener.security.protocol.map={protocols}", f"log.dirs={self.dir / 'data'}",
            "num.partitions=1", "auto.create.topics.enable=false", "offsets.topic.replication.factor=1",
            "transaction.state.log.replication.factor=1", "transaction.state.log.min.isr=1",
            "group.initial.rebalance.delay.ms=0",
            # Restarted after a kill -9, the broker registers again only once
            # the controller has fenced its old self (9 s by default).
            "broker.session.timeout.ms=2000", "broker.heartbeat.interval.ms=500", *extra, ""]))

    def start(self, timeout=90):
        """Starts it (again); returns once it says it started, noting when
        in `accepted_at`. A first start whose ports another process took
        between free_port() and the bind is tried again on new ones (a
        restart keeps its ports: clients know them)."""
        for attempt in range(3):
            try:
                return self._start(timeout)
            except PortTaken:
                if self.started or attempt == 2:
                    raise
                self.pick_ports()
                self.write_properties()

    def _start(self, timeout):
        log = self.dir / "logs" / "server.log"
        seen = log.stat().st_size if log.exists() else 0
        out = open(self.dir / "stdout.log", "ab")
        self.proc = subprocess.Popen([*self.java, "kafka.Kafka", str(self.dir / "server.properties")],
                                     stdin=subprocess.DEVNULL, stdout=out, stderr=out)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if log.exists():
                with open(log, "rb") as f:
                    f.seek(seen)
                    if b"Kafka Server started" in f.read():
                        self.accepted_at = time.monotonic()
                        self.started = True
                        return
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        self.close()
        if log.exists():
            with open(log, "rb") as f:
                f.seek(seen)
                taken = b"Address already in use" in f.read()
            if taken:
                raise PortTaken(f"kafka: a port was taken before it bound (see {log})")
        raise RuntimeError(f"kafka did not start (see {log})")



class ScriptedBrokers:
    """Brokers of scripts/brokers.sh (`name`: redis-cluster, redis-sentinel)
    started in the test's own run directory with `env` added; `values` is
    their brokers.env; close() stops them."""

    def __init__(self, tmp_path, name, **env):
        self.name = name
        self.env = dict(os.environ, BROKERSIDE_RUN_DIR=str(tmp_path / f"own-{name}"), **env)
        started = subprocess.run([str(ROOT / "scripts" / "brokers.sh"), "start", name], env=self.env,
                                 capture_output=True, text=True, timeout=120)
        assert started.returncode == 0, started.stderr
        self.values = dict(line.split("=", 1)
                           for line in (tmp_path / f"own-{name}" / "brokers.env").read_text().splitlines())

    def close(self):
        subprocess.run([str(ROOT / "scripts" / "brokers.sh"), "stop", self.name], env=self.env, timeout=60)
