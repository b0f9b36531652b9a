"""Requests the framed peer initiates, delivered to the app on a Recv stream
and answered by delivery id: from an aiomas server calling back over the
channel brokerside opened to it, and from aiomas clients (open_connection,
Channel.send) that connect to the target's listen address — both codecs, TCP
and a Unix socket. Whatever happens, the peer gets an answer: "no handler"
with no subscriber, "timeout" past reply_timeout, "handler gone" when the
subscriber's stream ends first."""

import asyncio
import json
import queue
import threading
import time

import aiomas
import grpc
import pytest

from brokerside.v1 import brokerside_pb2 as pb
from brokerside.v1 import brokerside_pb2_grpc as pb_grpc
from conftest import free_port
from test_aiomas import PatchedMsgPack, cancel_the_rest, request


class Loop:
    """An asyncio event loop on a thread of its own, for aiomas."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coroutine, timeout=10):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def submit(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop)

    def close(self):
        self.run(cancel_the_rest())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)


class RecvStream:
    """A Recv call subscribed to a framed target; what it receives is
    queued, what it sends goes through `send`."""

    def __init__(self, broker, target, credit=0):
        self.outgoing = queue.Queue()
        self.outgoing.put(pb.RecvRequest(subscribe=pb.Subscribe(target=target, credit=credit)))
        self.call = broker.Recv(iter(self.outgoing.get, None), timeout=60)
        self.incoming = queue.Queue()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()
        first = self.next(10)
        assert first.WhichOneof("kind") == "subscribed", first

    def _read(self):
        try:
            for response in self.call:
                self.incoming.put(response)
        except grpc.RpcError as e:
            self.incoming.put(e)
        self.incoming.put(None)

    def next(self, timeout=10):
        item = self.incoming.get(timeout=timeout)
        if isinstance(item, Exception):
            raise item
        return item

    def delivery(self, timeout=10):
        response = self.next(timeout)
        assert response is not None and response.WhichOneof("kind") == "delivery", response
        assert response.delivery.expects_reply
        return response.delivery

    def reply(self, delivery_id, **outcome):
        self.outgoing.put(pb.RecvRequest(reply=pb.Reply(delivery_id=delivery_id, **outcome)))

    def close(self):
        self.outgoing.put(None)


def result(text):
    return pb.Message(json=json.dumps(text))


CODECS = {"json": aiomas.codecs.JSON, "msgpack": PatchedMsgPack}


async def serve_calling_back(channel):
    """An aiomas server whose answer to {"ask": x} is whatever its own
    request x, sent back over the same channel, is answered with (or the
    text of the exception it raised)."""
    while True:
        try:
            req = await channel.recv()
        except ConnectionError:
            return

        async def answer(req):
            try:
                await req.reply({"got": await channel.send(req.content["ask"])})
            except aiomas.RemoteException as e:
                await req.reply({"failed": e.remote_traceback})

        asyncio.ensure_future(answer(req))


@pytest.mark.parametrize("codec", list(CODECS))
def test_an_aiomas_server_calls_the_app_back_over_our_channel(sidecar, codec):
    loop = Loop()
    port = free_port()
    server = loop.run(aiomas.channel.start_server(("127.0.0.1", port), serve_calling_back,
                                                  codec=CODECS[codec]))
    try:
        s = sidecar("--target", f"peer=framed://127.0.0.1:{port}?codec={codec}",
                    "--targets.peer.pool.max_connections=1")
        with s.channel() as channel:
            broker = pb_grpc.BrokerStub(channel)
            app = RecvStream(broker, "peer")
            # Five calls at once; each makes the server call the app back, and
            # the app answers the call-backs in reverse order.
            futures = [broker.Send.future(request("peer", json=json.dumps({"ask": {"n": i}})), timeout=20)
                       for i in range(5)]
            deliveries = [app.delivery() for _ in range(5)]
            asked = {d.delivery_id: json.loads(d.message.json)["n"] for d in deliveries}
            assert sorted(asked.values()) == list(range(5))
            for d in reversed(deliveries):
                n = asked[d.delivery_id]
                if n == 3:
                    app.reply(d.delivery_id, error="no such thing as 3")
                else:
                    app.reply(d.delivery_id, result=result({"twice": 2 * n}))
            answers = [json.loads(f.result().response.json) for f in futures]
            for i, answer in enumerate(answers):
                if i == 3:
                    assert answer == {"failed": "no such thing as 3"}
                else:
                    assert answer == {"got": {"twice": 2 * i}}
            app.close()
    finally:
        server.close()
        loop.run(server.wait_closed())
        loop.close()


class Client:
    """An aiomas client connected to brokerside's listen address."""

    def __init__(self, loop, addr, codec):
        self.loop = loop
        self.channel = loop.run(aiomas.channel.open_connection(addr, codec=CODECS[codec]))

    def send(self, content):
        async def send():  # Channel.send must be called on the channel's loop
            return await self.channel.send(content)
        return self.loop.submit(send())

    def close(self):
        self.loop.run(self.channel.close())


def remote_text(future, timeout=10):
    with pytest.raises(aiomas.RemoteException) as e:
        future.result(timeout)
    return e.value.remote_traceback


@pytest.mark.parametrize("transport,codec", [("tcp", "json"), ("tcp", "msgpack"), ("unix", "msgpack"),
                                             ("unix", "json")])
def test_aiomas_clients_call_the_app_through_the_listen_address(sidecar, tmp_path, transport, codec):
    if transport == "tcp":
        port = free_port()
        listen, addr = f"framed://127.0.0.1:{port}?codec={codec}", ("127.0.0.1", port)
    else:
        path = str(tmp_path / "brokerside-framed.sock")
        listen, addr = f"framed+unix://{path}?codec={codec}", path
    loop = Loop()
    # The target's own URL leads nowhere: this test only listens.
    s = sidecar("--target", f"legacy=framed://127.0.0.1:{free_port()}", f"--targets.legacy.listen={listen}",
                "--targets.legacy.reply_timeout=700ms")
    try:
        client = Client(loop, addr, codec)
        # Nobody subscribed yet: answered at once, not left for the timeout.
        started = time.monotonic()
        text = remote_text(client.send("anyone?"))
        assert text.startswith("no handler: no Recv stream is subscribed to target legacy"), text
        assert time.monotonic() - started < 0.7, "answered by the timeout, not at once"

        with s.channel() as channel:
            broker = pb_grpc.BrokerStub(channel)
            app = RecvStream(broker, "legacy")
            # Eight concurrent requests from two clients, answered out of order.
            other = Client(loop, addr, codec)
            calls = [(c, i, c.send({"op": "square", "x": i})) for i in range(4) for c in (client, other)]
            deliveries = [app.delivery() for _ in calls]
            assert len({d.delivery_id for d in deliveries}) == len(calls)
            for d in sorted(deliveries, key=lambda d: -json.loads(d.message.json)["x"]):
                x = json.loads(d.message.json)["x"]
                app.reply(d.delivery_id, result=result(x * x))
            for _, i, future in calls:
                assert future.result(10) == i * i
            # A remote exception with the app's words.
            f = client.send("fail me")
            d = app.delivery()
            assert json.loads(d.message.json) == "fail me"
            app.reply(d.delivery_id, error="ValueError: not today")
            assert remote_text(f) == "ValueError: not today"
            # Bytes: msgpack carries them as bin, delivered as body.
            if codec == "msgpack":
                f = client.send(b"\x00\xff")
                d = app.delivery()
                assert d.message.body == b"\x00\xff"
                app.reply(d.delivery_id, result=pb.Message(body=b"\xff\x00"))
                assert f.result(10) == b"\xff\x00"
            # Unanswered past reply_timeout: the client hears "timeout".
            started = time.monotonic()
            f = client.send("ignored")
            ignored = app.delivery()
            assert remote_text(f).startswith("timeout: no answer from a Recv subscriber of target legacy")
            assert time.monotonic() - started >= 0.69
            # A late answer is dropped; the stream goes on.
            app.reply(ignored.delivery_id, result=result("too late"))
            f = client.send("still there?")
            d = app.delivery()
            app.reply(d.delivery_id, result=result("yes"))
            assert f.result(10) == "yes"
            # Answering twice is the app's mistake: its stream ends with INVALID_ARGUMENT.
            app.reply(d.delivery_id, result=result("again"))
            with pytest.raises(grpc.RpcError) as e:
                while True:
                    app.next()
            assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert "awaits no reply" in e.value.details()

            # A request taken by a stream that ends unanswered: "handler gone".
            app = RecvStream(broker, "legacy")
            f = client.send("orphan")
            app.delivery()
            app.call.cancel()
            assert remote_text(f).startswith("handler gone: the Recv stream of target legacy")
            other.close()
        client.close()
    finally:
        loop.close()


def test_credit_bounds_the_requests_a_subscriber_holds(sidecar):
    port = free_port()
    loop = Loop()
    s = sidecar("--target", f"legacy=framed://127.0.0.1:{free_port()}",
                f"--targets.legacy.listen=framed://127.0.0.1:{port}")
    try:
        client = Client(loop, ("127.0.0.1", port), "json")
        with s.channel() as channel:
            broker = pb_grpc.BrokerStub(channel)
            first = RecvStream(broker, "legacy", credit=2)
            second = RecvStream(broker, "legacy", credit=2)
            futures = [client.send(i) for i in range(6)]
            # Four are handed out, two to each; the fifth and sixth wait for credit.
            held = [first.delivery(), first.delivery(), second.delivery(), second.delivery()]
            with pytest.raises(queue.Empty):
                first.incoming.get(timeout=0.3)
            with pytest.raises(queue.Empty):
                second.incoming.get(timeout=0.1)
            first.reply(held[0].delivery_id, result=result("a"))
            nxt = first.delivery()
            assert json.loads(nxt.message.json) in (4, 5)
            # More credit lets the last one through to the first stream too.
            first.outgoing.put(pb.RecvRequest(credit=pb.Credit(credit=1)))
            last = first.delivery()
            for stream, d in [(first, held[1]), (second, held[2]), (second, held[3]), (first, nxt),
                              (first, last)]:
                stream.reply(d.delivery_id, result=result(json.loads(d.message.json)))
            assert sorted(f.result(10) for f in futures[1:]) == [1, 2, 3, 4, 5]
            assert futures[0].result(10) == "a"
            first.close()
            second.close()
        client.close()
    finally:
        loop.close()


def test_a_listen_address_in_use_stops_startup_naming_the_setting(tmp_path):
    import socket
    import subprocess
    from conftest import BINARY
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        run = subprocess.run([BINARY, f"--listen=127.0.0.1:{free_port()}", "--admin=",
                              "--target", "legacy=framed://127.0.0.1:1",
                              f"--targets.legacy.listen=framed://127.0.0.1:{port}"],
                             capture_output=True, text=True, timeout=10)
    assert run.returncode != 0
    assert f"targets.legacy.listen: cannot listen on framed://127.0.0.1:{port}" in run.stderr, run.stderr


def test_a_client_that_vanishes_mid_request_costs_nothing_else(sidecar):
    port = free_port()
    loop = Loop()
    s = sidecar("--target", f"legacy=framed://127.0.0.1:{free_port()}",
                f"--targets.legacy.listen=framed://127.0.0.1:{port}")
    try:
        with s.channel() as channel:
            broker = pb_grpc.BrokerStub(channel)
            # Credit 1: an answer dropped for a vanished client must still
            # give the credit back, or the second round would never come.
            app = RecvStream(broker, "legacy", credit=1)
            for round in range(20):
                gone = Client(loop, ("127.0.0.1", port), "json")
                gone.send({"round": round})
                d = app.delivery()
                gone.close()
                # Its answer has nowhere to go: dropped, and the stream goes on.
                app.reply(d.delivery_id, result=result("to nobody"))
            client = Client(loop, ("127.0.0.1", port), "json")
            f = client.send("after")
            d = app.delivery()
            assert json.loads(d.message.json) == "after"
            app.reply(d.delivery_id, result=result("fine"))
            assert f.result(10) == "fine"
            client.close()
            app.close()
        assert s.proc.poll() is None
    finally:
        loop.close()


def test_at_shutdown_a_request_the_app_holds_is_answered_not_dropped(sidecar):
    port = free_port()
    loop = Loop()
    s = sidecar("--target", f"legacy=framed://127.0.0.1:{free_port()}",
                f"--targets.legacy.listen=framed://127.0.0.1:{port}", "--server.shutdown_grace=2s")
    try:
        client = Client(loop, ("127.0.0.1", port), "json")
        with s.channel() as channel:
            broker = pb_grpc.BrokerStub(channel)
            app = RecvStream(broker, "legacy")
            held = client.send("held by the app")
            app.delivery()
            s.terminate()
            text = remote_text(held)
            assert text.startswith(("handler gone:", "shutting down:")), text
            assert s.wait(10) == 0
    finally:
        loop.close()


def test_a_unix_listen_path_in_use_is_not_taken_over(sidecar, tmp_path):
    import subprocess
    from conftest import BINARY
    path = str(tmp_path / "legacy.sock")
    loop = Loop()
    first = sidecar("--target", f"legacy=framed://127.0.0.1:{free_port()}",
                    f"--targets.legacy.listen=framed+unix://{path}")
    try:
        run = subprocess.run([BINARY, f"--listen=127.0.0.1:{free_port()}", "--admin=",
                              "--target", "legacy=framed://127.0.0.1:1",
                              f"--targets.legacy.listen=framed+unix://{path}"],
                             capture_output=True, text=True, timeout=10)
        assert run.returncode != 0
        assert f"targets.legacy.listen: cannot listen on framed+unix://{path}" in run.stderr, run.stderr
        # The first one still has its socket, and it still answers.
        client = Client(loop, path, "json")
        assert remote_text(client.send("hello")).startswith("no handler:")
        client.close()
    finally:
        loop.close()
    first.terminate()
    assert first.wait(10) == 0
    import os
    assert not os.path.exists(path), "its own socket file is removed when it stops"
