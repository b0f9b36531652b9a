"""The framed adapter against the real aiomas 2.0.1 (pinned in
scripts/requirements.txt): brokerside sends requests over an aiomas channel to
an aiomas server (start_server, Channel.recv, Request.reply / Request.fail),
in both codecs, over TCP and a Unix socket; and against bad peers written here
from the wire format, each of which must cost one connection and nothing else.

aiomas 2.0.1's MsgPack codec does not run with msgpack >= 1.0 as published:
its decode() passes encoding='utf-8', which msgpack 1.0 removed, so every
message it receives raises TypeError. PatchedMsgPack below is that one-line
fix (the same call without the argument; raw=False is msgpack 1.0's default).
"""

import asyncio
import json
import socket
import struct
import threading
import time

import aiomas
import grpc
import msgpack
import pytest

from brokerside.v1 import brokerside_pb2 as pb
from brokerside.v1 import brokerside_pb2_grpc as pb_grpc
from conftest import free_port


async def cancel_the_rest():
    """Cancels the loop's other tasks (aiomas's channel tasks) and waits for
    them, so that none dies with the loop."""
    tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


class PatchedMsgPack(aiomas.codecs.MsgPack):
    def decode(self, data):
        return msgpack.unpackb(data, object_hook=self.deserialize_obj, use_list=False)


class AiomasServer:
    """An aiomas channel server on its own event loop thread. It answers
    {"sleep": s, "n": n} after s seconds with {"n": n}, "fail" with a
    ValueError, bytes with the bytes reversed, anything else with itself."""

    def __init__(self, addr, codec):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server = self.call(aiomas.channel.start_server(addr, self.handle, codec=codec))

    def call(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(10)

    async def handle(self, channel):
        while True:
            try:
                request = await channel.recv()
            except ConnectionError:
                return
            self.loop.create_task(self.answer(request))

    @staticmethod
    async def answer(request):
        content = request.content
        if isinstance(content, dict) and "sleep" in content:
            await asyncio.sleep(content["sleep"])
            await request.reply({"n": content["n"]})
        elif content == "fail":
            await request.fail(ValueError("boom"))
        elif isinstance(content, bytes):
            await request.reply(content[::-1])
        else:
            await request.reply(content)

    def close(self):
        self.server.close()
        self.call(self.server.wait_closed())
        self.call(cancel_the_rest())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)


def request(target, **content):
    return pb.SendRequest(target=target, request=pb.Request(message=pb.Message(**content)))


def test_json_over_tcp_concurrent_requests_answered_out_of_order(sidecar):
    port = free_port()
    server = AiomasServer(("127.0.0.1", port), aiomas.codecs.JSON)
    try:
        s = sidecar("--target", f"peer=framed://127.0.0.1:{port}?codec=json")
        with s.channel() as channel:
            broker = pb_grpc.BrokerStub(channel)
            # The first sent sleeps longest: answers come back in reverse.
            futures = [broker.Send.future(request("peer", json=json.dumps({"sleep": (9 - i) * 0.05, "n": i})),
                                          timeout=10) for i in range(10)]
            done_order = []
            for i, f in enumerate(futures):
                f.add_done_callback(lambda _, i=i: done_order.append(i))
            results = [json.loads(f.result().response.json) for f in futures]
            assert results == [{"n": i} for i in range(10)]
            assert done_order[0] > done_order[-1], done_order  # out of order on one connection
            stats = broker.Stats(pb.StatsRequest(target="peer"), timeout=5).targets[0]
            assert stats.counters.connects == 1

            with pytest.raises(grpc.RpcError) as e:
                broker.Send(request("peer", json='"fail"'), timeout=5)
            assert e.value.code() == grpc.StatusCode.UNKNOWN
            # aiomas sends the formatted exception (a traceback when it was raised).
            assert e.value.details() == "framed: remote exception: ValueError: boom\n"

            # A structured Value goes as it is; JSON has no bytes: refused before sending.
            value = pb.Value(array=pb.Array(values=[pb.Value(integer=1), pb.Value(text="two")]))
            reply = broker.Send(request("peer", value=value), timeout=5).response
            assert [v.WhichOneof("kind") for v in reply.value.array.values] == ["integer", "text"]
            with pytest.raises(grpc.RpcError) as e:
                broker.Send(request("peer", body=b"\x00\x01"), timeout=5)
            assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert "JSON carries no bytes" in e.value.details(), e.value.details()
    finally:
        server.close()


def test_msgpack_over_a_unix_socket_carries_bytes(sidecar, tmp_path):
    path = str(tmp_path / "peer.sock")
    server = AiomasServer(path, PatchedMsgPack)
    try:
        s = sidecar("--target", f"peer=framed+unix://{path}?codec=msgpack")
        with s.channel() as channel:
            broker = pb_grpc.BrokerStub(channel)
            # body is one bin value: the handler gets Python bytes (and reverses
            # them), not codec bytes spliced into the frame. Bytes that happen
            # to be a whole msgpack encoding stay bytes too.
            reply = broker.Send(request("peer", body=b"\x00\x01\xff"), timeout=5).response
            assert reply.body == b"\xff\x01\x00"
            encoded = msgpack.packb({"n": 1})
            reply = broker.Send(request("peer", body=encoded), timeout=5).response
            assert reply.body == encoded[::-1]
            with pytest.raises(grpc.RpcError) as e:
                broker.Send(request("peer", json='"fail"'), timeout=5)
            assert e.value.code() == grpc.StatusCode.UNKNOWN
            futures = [broker.Send.future(request("peer", json=json.dumps({"sleep": 0.01 * (5 - i), "n": i})),
                                          timeout=10) for i in range(5)]
            assert [json.loads(f.result().response.json)["n"] for f in futures] == list(range(5))
    finally:
        server.close()


def frame(payload):
    return struct.pack(">I", len(payload)) + payload


BAD_PEERS = {
    # what the peer sends after reading one request: (bytes, then close?)
    "oversized frame": (struct.pack(">I", 0x7FFFFFFF) + b"[", False),
    "truncated frame then EOF": (struct.pack(">I", 100) + b'[1, 0, "', True),
    "garbage": (frame(b"this is not JSON"), False),
    "unknown msg_type": (frame(b'[7, 0, "x"]'), False),
    "result for an unknown msg_id": (frame(b'[1, 999, "x"]'), False),
}


class BadPeer:
    """A listener that reads one request per connection and answers it
    with `reply`, then (optionally) closes."""

    def __init__(self, reply, close_after):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.port = self.sock.getsockname()[1]
        self.reply, self.close_after = reply, close_after
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.answer, args=(conn,), daemon=True).start()

    def answer(self, conn):
        with conn:
            try:
                size = struct.unpack(">I", conn.recv(4, socket.MSG_WAITALL))[0]
                conn.recv(size, socket.MSG_WAITALL)
                conn.sendall(self.reply)
                if not self.close_after:
                    time.sleep(5)  # the sidecar must close it, not us
            except (OSError, struct.error):
                pass

    def close(self):
        self.sock.close()


@pytest.mark.parametrize("mode", list(BAD_PEERS))
def test_a_bad_peer_costs_one_connection_and_nothing_else(sidecar, mode):
    bad = BadPeer(*BAD_PEERS[mode])
    good_port = free_port()
    good = AiomasServer(("127.0.0.1", good_port), aiomas.codecs.JSON)
    try:
        s = sidecar("--target", f"bad=framed://127.0.0.1:{bad.port}", "--target",
                    f"good=framed://127.0.0.1:{good_port}")
        with s.channel() as channel:
            broker = pb_grpc.BrokerStub(channel)
            started = time.monotonic()
            with pytest.raises(grpc.RpcError) as e:
                broker.Send(request("bad", json='"hello"'), timeout=5)
            # It reached the peer, so its outcome is unknown: not retried.
            assert e.value.code() in (grpc.StatusCode.ABORTED, grpc.StatusCode.UNAVAILABLE), e.value
            # The status says what the peer did, as the log does.
            said = {"unknown msg_type": "framed: the peer broke the protocol (msg_type 7, which the "
                                        "protocol does not have",
                    "result for an unknown msg_id": "framed: the peer broke the protocol (result "
                                                    "for unknown msg_id 999)"}
            if mode in said:
                assert said[mode] in e.value.details(), e.value.details()
            assert time.monotonic() - started < 2, "the failure waited for the deadline"
            assert broker.Send(request("good", json='"still here"'), timeout=5).response.json == '"still here"'
        if mode != "truncated frame then EOF":
            deadline = time.monotonic() + 5
            while "protocol error" not in s.log() and time.monotonic() < deadline:
                time.sleep(0.05)
            assert "closed a connection for a protocol error" in s.log(), s.log()
    finally:
        bad.close()
        good.close()
