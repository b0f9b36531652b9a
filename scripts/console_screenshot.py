#!/usr/bin/env python3
"""Makes docs/stats-console.png: `brokerside stats --watch` in a real
terminal (tmux, 132x16) beside a sidecar under load, its screen rendered as
an image. Needs the brokers of scripts/brokers.sh (BROKERSIDE_RUN_DIR) and
a built build/sidecar/brokerside; run it with the project's .venv python.
Not part of the test command."""

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import grpc
from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "integration"))
import conftest  # noqa: E402,F401  (generates the Python stubs of the proto)
from conftest import free_port  # noqa: E402
from brokerside.v1 import brokerside_pb2 as pb  # noqa: E402
from brokerside.v1 import brokerside_pb2_grpc as pb_grpc  # noqa: E402

BINARY = ROOT / "build" / "sidecar" / "brokerside"
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf"


def main():
    run_dir = Path(os.environ.get("BROKERSIDE_RUN_DIR", ROOT / ".run" / "brokers"))
    env = dict(l.split("=", 1) for l in (run_dir / "brokers.env").read_text().splitlines() if "=" in l)
    port = free_port()
    side = subprocess.Popen([str(BINARY), f"--listen=127.0.0.1:{port}", "--admin=",
                             "--target", f"cache={env['BROKERSIDE_REDIS_URL']}",
                             "--target", f"events={env['BROKERSIDE_AMQP_URL']}",
                             "--target", f"orders={env['BROKERSIDE_NATS_URL']}",
                             "--target", "legacy=redis://127.0.0.1:1"],
                            stderr=subprocess.DEVNULL)
    address = f"127.0.0.1:{port}"
    stop = threading.Event()
    try:
        channel = grpc.insecure_channel(address)
        grpc.channel_ready_future(channel).result(timeout=10)
        broker = pb_grpc.BrokerStub(channel)
        broker.Acquire(pb.AcquireRequest(target="cache"), timeout=5)

        def load(target, request):
            while not stop.is_set():
                futures = [broker.Send.future(request, timeout=5) for _ in range(16)]
                for f in futures:
                    try:
                        f.result()
                    except grpc.RpcError:
                        pass

        get = pb.SendRequest(target="cache", command=pb.Command(args=[b"GET", b"console:key"]))
        note = pb.SendRequest(target="orders", publish=pb.Publish(destination="orders.created",
                                                                  message=pb.Message(body=b"{}")))
        for t, r in (("cache", get), ("orders", note)):
            threading.Thread(target=load, args=(t, r), daemon=True).start()
        session = f"console{os.getpid()}"
        subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "132", "-y", "12",
                        f"{BINARY} stats --address {address} --watch --interval 2"], check=True)
        time.sleep(5)
        screen = subprocess.run(["tmux", "capture-pane", "-p", "-t", session], capture_output=True,
                                text=True, check=True).stdout.rstrip("\n")
        subprocess.run(["tmux", "kill-session", "-t", session])
    finally:
        stop.set()
        side.terminate()
        side.wait(15)
    lines = ["$ brokerside stats --watch --interval 2"] + screen.splitlines()
    font = ImageFont.truetype(FONT, 15)
    width = int(max(font.getlength(l) for l in lines)) + 40
    step = 20
    image = Image.new("RGB", (width, step * len(lines) + 30), (24, 26, 33))
    draw = ImageDraw.Draw(image)
    for i, line in enumerate(lines):
        colour = (140, 200, 140) if i == 0 else (225, 228, 232)
        draw.text((20, 15 + i * step), line, font=font, fill=colour)
    out = ROOT / "docs" / "stats-console.png"
    out.parent.mkdir(exist_ok=True)
    image.save(out)
    print(screen)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
