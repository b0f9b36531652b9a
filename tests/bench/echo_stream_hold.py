"""What an open bidirectional stream costs a bare gRPC server on this build
(gRPC 1.51): opens N EchoStream calls to bench_echo_server over 10
connections, one message each way on every one, and reads the server's RSS
before and with them open. The floor under P7's RSS per Recv stream.

    .venv/bin/python tests/bench/echo_stream_hold.py ADDRESS SERVER_PID [N]
"""

import asyncio
import pathlib
import sys
import tempfile

import grpc
from grpc_tools import protoc

HERE = pathlib.Path(__file__).resolve().parent


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


async def hold(address, pid, n, pb, pb_grpc):
    channels = [grpc.aio.insecure_channel(address, options=[("grpc.use_local_subchannel_pool", 1)])
                for _ in range(10)]
    stubs = [pb_grpc.EchoStub(c) for c in channels]
    await asyncio.sleep(0.5)
    before = rss_kb(pid)
    calls = []
    for i in range(n):
        call = stubs[i % 10].EchoStream()
        await call.write(pb.EchoMessage(id=i, payload=b"x" * 64))
        await call.read()
        calls.append(call)
    await asyncio.sleep(2)
    after = rss_kb(pid)
    print(f"{n} open EchoStream calls: server RSS {before} -> {after} kB, "
          f"{(after - before) / n:.1f} kB per stream", flush=True)
    for call in calls:
        call.cancel()
    for c in channels:
        await c.close(grace=0)


def main():
    address, pid = sys.argv[1], int(sys.argv[2])
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 1000
    with tempfile.TemporaryDirectory() as out:
        protoc.main(["protoc", f"-I{HERE}", f"--python_out={out}", f"--grpc_python_out={out}",
                     str(HERE / "echo.proto")])
        sys.path.insert(0, out)
        import echo_pb2
        import echo_pb2_grpc
        asyncio.run(hold(address, pid, n, echo_pb2, echo_pb2_grpc))


if __name__ == "__main__":
    main()
