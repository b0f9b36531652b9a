"""Turns one run of scripts/bench.sh (a directory of raw JSON/CSV files) into
tests/bench/results/<date>.md, .json and .png, and prints the Markdown.

  report.py RAW_DIR RESULTS_DIR

Every figure is the median of the repetitions with min and max; a ratio is
computed pair by pair (repetition r of the figure against repetition r of
its baseline, run back to back) and then summarized.
"""

import csv
import json
import math
import statistics
import sys
from pathlib import Path

raw = Path(sys.argv[1])
results = Path(sys.argv[2])
meta = json.loads((raw / "meta.json").read_text())
if (raw / "meta-end.json").exists():
    meta.update(json.loads((raw / "meta-end.json").read_text()))
reps = range(1, meta["reps"] + 1)


def load_json(name):
    path = raw / name
    if not path.exists() or not path.read_text().strip():
        return None
    return json.loads(path.read_text().splitlines()[-1])


def runs(prefix):
    """The repetitions of one measurement (None where a run failed)."""
    return [load_json(f"{prefix}-{r}.json") for r in reps]


def redis_csv(prefix):
    """redis-benchmark --csv per repetition: {test: {rps, p50_us, p99_us}}."""
    out = []
    for r in reps:
        path = raw / f"{prefix}-{r}.csv"
        table = {}
        if path.exists():
            lines = path.read_text().splitlines()
            # (--cluster prints the nodes it found before the CSV.)
            header = next((i for i, line in enumerate(lines) if line.startswith('"test"')), len(lines))
            for row in csv.DictReader(lines[header:]):
                table[row["test"]] = {
                    "rps": float(row["rps"]),
                    "p50_us": float(row["p50_latency_ms"]) * 1000,
                    "p99_us": float(row["p99_latency_ms"]) * 1000,
                }
        out.append(table or None)
    return out


def spread(values):
    values = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if not values:
        return None
    if isinstance(values[0], tuple):
        # (figure, baseline) pairs: each side summarized on its own.
        a, b = spread([v[0] for v in values]), spread([v[1] for v in values])
        return {"median": (a["median"], b["median"]), "min": (a["min"], b["min"]),
                "max": (a["max"], b["max"]), "values": values}
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "values": values}


def pairwise(a, b, f):
    """f(a_r, b_r) for each repetition where both ran."""
    return [f(x, y) if x is not None and y is not None else None for x, y in zip(a, b)]


def thr(run):
    return run["throughput"] if run else None


def lat(run, key):
    return run["latency_us"][key] if run else None


# ---- the runs ----
echo_u1, echo_u32, echo_s50 = runs("p0-echo-u1"), runs("p0-echo-u32"), runs("p0-echo-s50")
echo_u1000 = runs("p0-echo-u1000x10")
rb_c1, rb_c50 = redis_csv("p0-redis-c1"), redis_csv("p0-redis-c50")
rb_c50p16 = redis_csv("p0-redis-c50p16")
p1, p2, p3 = runs("p1"), runs("p2"), runs("p3")
p2b = runs("p2b")
p4, p4_pika = runs("p4"), runs("p4-pika")
p5_grpc, p5_redis, p5_grpc_w64 = runs("p5-grpc"), runs("p5-redis"), runs("p5-grpc-w64")
p5_tasks_grpc, p5_tasks_redis = runs("p5-tasks-grpc"), runs("p5-tasks-redis")
twem_c1, twem_c50 = redis_csv("p0-twem-c1"), redis_csv("p0-twem-c50")
twem_c50p16 = redis_csv("p0-twem-c50p16")
idle = [load_json("p6-idle-cpu.json")]
p6, p6_peak = runs("p6"), runs("p6-peak")
p7_clients, p7_recv, p7_recv_conns = runs("p7-clients"), runs("p7-recv"), runs("p7-recv-conns")
p7_amqp, p7_amqp_conns = runs("p7-amqp-recv"), runs("p7-amqp-conns")
p7_leases = runs("p7-leases")
p9_core, p9_core_natspy = runs("p9-core"), runs("p9-core-natspy")
p9_js, p9_js_natspy = runs("p9-js"), runs("p9-js-natspy")
p10, rb_cluster = runs("p10"), redis_csv("p10-redis")
p8_pub, p8_pub_kcat, p8_pub_kpy = runs("p8-pub"), runs("p8-pub-kcat"), runs("p8-pub-kpy")
p8_recv, p8_recv_kcat = runs("p8-recv"), runs("p8-recv-kcat")


def rb(table, test, key):
    return table[test][key] if table and test in table else None


figures = []  # (id, what, unit, spread, target text, met: True/False/None)


def add(pid, what, unit, values, target=None, check=None):
    s = spread(values)
    met = None
    if s is not None and check is not None:
        met = check(s["median"])
    figures.append({"id": pid, "what": what, "unit": unit, "spread": s, "target": target,
                    "met": met})


add("P0", "bare gRPC echo, unary, 1 in flight: throughput", "calls/s", [thr(r) for r in echo_u1])
add("P0", "bare gRPC echo, unary, 1 in flight: p50", "µs", [lat(r, "p50") for r in echo_u1])
add("P0", "bare gRPC echo, unary, 1 in flight: p99", "µs", [lat(r, "p99") for r in echo_u1])
add("P0", "bare gRPC echo, unary, 32 in flight: throughput", "calls/s", [thr(r) for r in echo_u32])
add("P0", "bare gRPC echo, unary, 32 in flight: p50", "µs", [lat(r, "p50") for r in echo_u32])
add("P0", "bare gRPC echo, one bidi stream, 50 in flight: throughput", "msgs/s",
    [thr(r) for r in echo_s50])
for test in ("GET", "SET"):
    add("P0", f"redis-benchmark -c 1 -P 1 -d 64 {test}: throughput", "ops/s",
        [rb(t, test, "rps") for t in rb_c1])
    add("P0", f"redis-benchmark -c 1 -P 1 -d 64 {test}: p50", "µs",
        [rb(t, test, "p50_us") for t in rb_c1])
    add("P0", f"redis-benchmark -c 1 -P 1 -d 64 {test}: p99", "µs",
        [rb(t, test, "p99_us") for t in rb_c1])
    add("P0", f"redis-benchmark -c 50 -P 1 -d 64 {test}: throughput", "ops/s",
        [rb(t, test, "rps") for t in rb_c50])

add("P1", "brokerside Send GET 64 B, 32 in flight: throughput", "calls/s", [thr(r) for r in p1])
add("P1", "brokerside Send GET, 32 in flight: p50", "µs", [lat(r, "p50") for r in p1])
add("P1", "ratio to bare echo at 32 in flight (pair by pair)", "×",
    pairwise(p1, echo_u32, lambda a, b: a["throughput"] / b["throughput"]), "≥ 0.85",
    lambda m: m >= 0.85)

add("P2", "brokerside SendStream SET 64 B, one stream, 50 in flight: throughput", "ops/s",
    [thr(r) for r in p2])
add("P2", "ratio to redis-benchmark -c 50 -P 1 SET (pair by pair)", "×",
    pairwise(p2, rb_c50, lambda a, b: a["throughput"] / b["SET"]["rps"] if "SET" in b else None),
    "≥ 1.0", lambda m: m >= 1.0)
add("P2", "ratio to the bare echo stream at 50 in flight (pair by pair)", "×",
    pairwise(p2, echo_s50, lambda a, b: a["throughput"] / b["throughput"]))

add("P0", "redis-benchmark -c 50 -P 16 -d 64 SET: throughput", "ops/s",
    [rb(t, "SET", "rps") for t in rb_c50p16])
add("P2b", "brokerside SendStream SET 64 B, one stream, batches of 16, 800 in flight: throughput",
    "ops/s", [thr(r) for r in p2b])
add("P2b", "ratio to redis-benchmark -c 50 -P 16 SET (pair by pair)", "×",
    pairwise(p2b, rb_c50p16,
             lambda a, b: a["throughput"] / b["SET"]["rps"] if "SET" in b else None),
    "≥ 0.8", lambda m: m >= 0.8)

add("proxy", "twemproxy (nutcracker) -c 50 -P 1 SET ÷ direct redis-benchmark (pair by pair)", "×",
    pairwise(twem_c50, rb_c50, lambda a, b: a["SET"]["rps"] / b["SET"]["rps"]
             if "SET" in a and "SET" in b else None))
add("proxy", "twemproxy -c 50 -P 16 SET ÷ direct (pair by pair)", "×",
    pairwise(twem_c50p16, rb_c50p16, lambda a, b: a["SET"]["rps"] / b["SET"]["rps"]
             if "SET" in a and "SET" in b else None))
add("proxy", "twemproxy -c 1 GET: p50 added to direct (pair by pair)", "µs",
    pairwise(twem_c1, rb_c1, lambda a, b: a["GET"]["p50_us"] - b["GET"]["p50_us"]
             if "GET" in a and "GET" in b else None))

add("P3", "brokerside Send GET, 1 in flight: p50", "µs", [lat(r, "p50") for r in p3])
add("P3", "brokerside Send GET, 1 in flight: p99", "µs", [lat(r, "p99") for r in p3])
base50 = pairwise(echo_u1, rb_c1, lambda a, b: a["latency_us"]["p50"] + b["GET"]["p50_us"])
base99 = pairwise(echo_u1, rb_c1, lambda a, b: a["latency_us"]["p99"] + b["GET"]["p99_us"])
add("P3", "baseline: bare echo + direct Redis GET (redis-benchmark -c 1): p50", "µs", base50)
add("P3", "baseline: bare echo + direct Redis GET: p99", "µs", base99)
add("P3", "added at p50 (pair by pair)", "µs",
    [a["latency_us"]["p50"] - b if a is not None and b is not None else None
     for a, b in zip(p3, base50)], "≤ 15 µs", lambda m: m <= 15)
add("P3", "added at p99 (pair by pair)", "µs",
    [a["latency_us"]["p99"] - b if a is not None and b is not None else None
     for a, b in zip(p3, base99)])

def server(run, key):
    return run["server"][key] if run and "server" in run else None


for pid, what, fig, base in (("P1", "32 in flight", p1, echo_u32), ("P2", "one stream, 50 in flight", p2, echo_s50),
                             ("P3", "1 in flight", p3, echo_u1)):
    add(pid, f"server CPU per call, {what}: brokerside / bare echo", "µs/µs",
        pairwise(fig, base, lambda a, b: (server(a, "cpu_us_per_call"), server(b, "cpu_us_per_call"))
                 if server(a, "cpu_us_per_call") is not None else None))
    add(pid, f"server context switches per call, {what}: brokerside / bare echo", "n/n",
        pairwise(fig, base, lambda a, b: (server(a, "context_switches_per_call"),
                                          server(b, "context_switches_per_call"))
                 if server(a, "context_switches_per_call") is not None else None))
add("P2b", "server CPU per operation, batches of 16", "µs",
    [server(r, "cpu_us_per_call") for r in p2b])

# A baseline build (BENCH_BASELINE), run right after this build in each
# repetition: the before/after comparison, pair by pair.
p1_base, p2_base, p3_base = runs("p1-base"), runs("p2-base"), runs("p3-base")
if any(p1_base):
    label = meta.get("baseline") or "baseline"
    add("P1", f"{label}: ratio to bare echo at 32 in flight (pair by pair)", "×",
        pairwise(p1_base, echo_u32, lambda a, b: a["throughput"] / b["throughput"]))
    add("P1", f"this build ÷ {label}, 32 in flight (pair by pair)", "×",
        pairwise(p1, p1_base, lambda a, b: a["throughput"] / b["throughput"]))
    add("P1", f"server CPU per call: this build / {label}", "µs/µs",
        pairwise(p1, p1_base, lambda a, b: (server(a, "cpu_us_per_call"),
                                            server(b, "cpu_us_per_call"))))
    add("P2", f"{label}: ratio to redis-benchmark -c 50 -P 1 SET (pair by pair)", "×",
        pairwise(p2_base, rb_c50,
                 lambda a, b: a["throughput"] / b["SET"]["rps"] if "SET" in b else None))
    add("P2", f"this build ÷ {label}, one stream, 50 in flight (pair by pair)", "×",
        pairwise(p2, p2_base, lambda a, b: a["throughput"] / b["throughput"]))
    add("P2", f"server CPU per operation: this build / {label}", "µs/µs",
        pairwise(p2, p2_base, lambda a, b: (server(a, "cpu_us_per_call"),
                                            server(b, "cpu_us_per_call"))))
    add("P3", f"{label}: added at p50 (pair by pair)", "µs",
        [a["latency_us"]["p50"] - b if a is not None and b is not None else None
         for a, b in zip(p3_base, base50)])
    add("P3", f"p50, this build − {label} (pair by pair)", "µs",
        pairwise(p3, p3_base, lambda a, b: a["latency_us"]["p50"] - b["latency_us"]["p50"]))
    add("P3", f"server CPU per call: this build / {label}", "µs/µs",
        pairwise(p3, p3_base, lambda a, b: (server(a, "cpu_us_per_call"),
                                            server(b, "cpu_us_per_call"))))

add("P4", "brokerside SendStream confirmed publishes (64 in flight): throughput", "msgs/s",
    [thr(r) for r in p4])
add("P4", "pika BlockingConnection + confirm_delivery: throughput", "msgs/s",
    [thr(r) for r in p4_pika])
add("P4", "ratio (pair by pair)", "×",
    pairwise(p4, p4_pika, lambda a, b: a["throughput"] / b["throughput"]), "≥ 5×",
    lambda m: m >= 5)

add("P5", "Python asyncio app, 64 tasks doing SETs, one batched SendStream: throughput",
    "ops/s", [thr(r) for r in p5_tasks_grpc])
add("P5", "the same app on redis.asyncio with a connection pool: throughput", "ops/s",
    [thr(r) for r in p5_tasks_redis])
add("P5", "ratio (pair by pair)", "×",
    pairwise(p5_tasks_grpc, p5_tasks_redis, lambda a, b: a["throughput"] / b["throughput"]),
    "≥ 2×", lambda m: m >= 2)
add("P5", "(extra) Python grpc.aio SETs through SendStream, one at a time: throughput", "ops/s",
    [thr(r) for r in p5_grpc])
add("P5", "(extra) Python redis-py SETs, one at a time: throughput", "ops/s",
    [thr(r) for r in p5_redis])
add("P5", "(extra) ratio, one at a time (pair by pair)", "×",
    pairwise(p5_grpc, p5_redis, lambda a, b: a["throughput"] / b["throughput"]))
add("P5", "(extra) grpc.aio SendStream with 64 outstanding: throughput", "ops/s",
    [thr(r) for r in p5_grpc_w64])
add("P5", "(extra) ratio of the 64-outstanding app to redis-py one at a time", "×",
    pairwise(p5_grpc_w64, p5_redis, lambda a, b: a["throughput"] / b["throughput"]))

add("P6", "RSS idle, 3 targets (2 Redis, 1 AMQP), 2 s after SERVING", "MB",
    [r["rss_idle_kb"] / 1024 if r else None for r in p6], "≤ 15 MB", lambda m: m <= 15)
add("P6", "(extra) of which anonymous (heap, stacks: the process's own)", "MB",
    [r["rss_anon_kb"] / 1024 if r and "rss_anon_kb" in r else None for r in p6])
add("P6", "(extra) of which file-backed (code of the binary and its shared libraries)", "MB",
    [r["rss_file_kb"] / 1024 if r and "rss_file_kb" in r else None for r in p6])
add("P6", "peak RSS during P2 (VmHWM of a fresh sidecar that ran only P2)", "MB",
    [r["VmHWM"] / 1024 if r else None for r in p6_peak], "≤ 60 MB", lambda m: m <= 60)
add("P6", "idle CPU of the main sidecar over 10 s, after the runs", "% of a core",
    [r["cpu_percent"] if r else None for r in idle], "≤ 1 %", lambda m: m <= 1)
add("P6", "exec to SERVING (grpc.health.v1, service \"\")", "ms",
    [r["exec_to_serving_ms"] if r else None for r in p6], "≤ 50 ms", lambda m: m <= 50)

add("P7", "(reference) bare gRPC echo, 1,000 clients × 10 in flight: throughput", "calls/s",
    [thr(r) for r in echo_u1000])
add("P7", "1,000 clients × 10 in flight, Send GET: throughput", "calls/s",
    [thr(r) for r in p7_clients])
add("P7", "1,000 clients × 10 in flight: p99", "µs", [lat(r, "p99") for r in p7_clients])
add("P7", "throughput as a share of P1 (pair by pair)", "×",
    pairwise(p7_clients, p1, lambda a, b: a["throughput"] / b["throughput"]),
    "≥ 0.90 (within 10%)", lambda m: m >= 0.9)
add("P7", "(extra) RSS of the main sidecar right after it (heap kept)", "MB",
    [r["VmRSS"] / 1024 if r else None for r in runs("p7-rss-after")])
add("P7", "(extra) RSS of the main sidecar 30 s after it", "MB",
    [r["VmRSS"] / 1024 if r else None for r in runs("p7-rss-later")])
add("P7", "(reference) its share of the bare echo at 1,000 × 10 (pair by pair)", "×",
    pairwise(p7_clients, echo_u1000, lambda a, b: a["throughput"] / b["throughput"]))
add("P7", "1,000 open Recv streams (Redis pub/sub): subscribed", "streams",
    [r["subscribed"] if r else None for r in p7_recv])
add("P7", "RSS per open Recv stream (fresh sidecar; the streams share the target's subscriber connections)", "KB",
    [r["rss_per_stream_kb"] if r else None for r in p7_recv], "≤ 20 KB", lambda m: m <= 20)
add("P7", "Redis connections the 1,000 Recv streams hold (CLIENT LIST, subscriber mode)", "connections",
    [r["subscriber_connections"] if r else None for r in p7_recv_conns], "≤ 8", lambda m: m <= 8)
add("P7", "1,000 open Recv streams (AMQP consumers, a queue each): subscribed", "streams",
    [r["subscribed"] if r else None for r in p7_amqp])
add("P7", "RSS per AMQP consumer (fresh sidecar; each a channel on the target's shared consumer connections)",
    "KB", [r["rss_per_stream_kb"] if r else None for r in p7_amqp], "≤ 20 KB", lambda m: m <= 20)
add("P7", "connections from the sidecar to RabbitMQ while the 1,000 consumers are open (ss; the pool's "
    "one included)", "connections",
    [r["connections"] if r else None for r in p7_amqp_conns], "≤ 8", lambda m: m <= 8)
add("P7", "leases held (Redis, taken one by one from 1,000 idle pooled connections)", "leases",
    [r["leases"] if r else None for r in p7_leases])
add("P7", "RSS per lease beyond its connection (the connections were open before)", "KB",
    [r["rss_per_lease_kb"] if r and r["leases"] else None for r in p7_leases], "≤ 2 KB",
    lambda m: m <= 2)

add("P8", "Kafka publishes through one SendStream (acks=all, idempotent, 64 B, 64 in flight, each "
    "answered with its partition and offset): throughput", "msgs/s", [thr(r) for r in p8_pub])
add("P8", "kcat -P straight to the broker, same settings (librdkafka's ceiling; its start is in "
    "the time): throughput", "msgs/s", [thr(r) for r in p8_pub_kcat])
add("P8", "publish ratio to kcat (pair by pair)", "×",
    pairwise(p8_pub, p8_pub_kcat, lambda a, b: a["throughput"] / b["throughput"]))
add("P8", "kafka-python app, send() after send(), one flush (acks=all): throughput", "msgs/s",
    [thr(r) for r in p8_pub_kpy])
add("P8", "publish ratio to kafka-python (pair by pair)", "×",
    pairwise(p8_pub, p8_pub_kpy, lambda a, b: a["throughput"] / b["throughput"]))
add("P8", "server CPU per publish", "µs", [server(r, "cpu_us_per_call") for r in p8_pub])
add("P8", "Recv in a consumer group (credit 1,000, every delivery acked, offsets committed): "
    "throughput", "msgs/s", [thr(r) for r in p8_recv])
add("P8", "kcat -C from the beginning (no group, no commits): throughput", "msgs/s",
    [thr(r) for r in p8_recv_kcat])
add("P8", "consume ratio to kcat (pair by pair)", "×",
    pairwise(p8_recv, p8_recv_kcat, lambda a, b: a["throughput"] / b["throughput"]))

add("P9", "NATS core publishes through one SendStream (64 in flight, each confirmed by the "
    "server's PONG): throughput", "msgs/s", [thr(r) for r in p9_core])
add("P9", "nats-py publishing into its buffer, one flush at the end (`nats bench` style, "
    "nothing confirmed per message): throughput", "msgs/s", [thr(r) for r in p9_core_natspy])
add("P9", "core ratio (pair by pair)", "×",
    pairwise(p9_core, p9_core_natspy, lambda a, b: a["throughput"] / b["throughput"]))
add("P9", "server CPU per core publish", "µs", [server(r, "cpu_us_per_call") for r in p9_core])
add("P9", "JetStream publishes through one SendStream, each awaiting its PubAck (64 in flight, "
    "memory stream): throughput", "msgs/s", [thr(r) for r in p9_js])
add("P9", "nats-py js.publish, 64 tasks each awaiting its PubAck: throughput", "msgs/s",
    [thr(r) for r in p9_js_natspy])
add("P9", "JetStream ratio (pair by pair)", "×",
    pairwise(p9_js, p9_js_natspy, lambda a, b: a["throughput"] / b["throughput"]))
add("P9", "JetStream publish p50 through brokerside / nats-py", "µs",
    pairwise(p9_js, p9_js_natspy, lambda a, b: (a["latency_us"]["p50"], b["latency_us"]["p50"])))
add("P10", "brokerside SendStream SET 64 B on 100,000 keys (in turn) over a 3-master Redis Cluster, 50 in "
    "flight: throughput", "ops/s", [thr(r) for r in p10])
add("P10", "redis-benchmark --cluster -c 50 -P 1 -r 100000 SET: throughput", "ops/s",
    [rb(t, "SET", "rps") for t in rb_cluster])
add("P10", "ratio (pair by pair)", "×",
    pairwise(p10, rb_cluster, lambda a, b: a["throughput"] / b["SET"]["rps"] if "SET" in b else None))

# ---- ghz cross-check ----
def ghz(name):
    run = load_json(name)
    if not run:
        return None
    dist = {round(d["percentage"]): d["latency"] / 1000 for d in run.get("latencyDistribution") or []}
    return {"rps": run.get("rps"), "p50_us": dist.get(50), "p99_us": dist.get(99),
            "count": run.get("count"), "status": run.get("statusCodeDistribution")}


cross = []
for what, g, b in [(f"{name}, {c} in flight", ghz(f"ghz-{key}-c{c}.json"),
                    load_json(f"ghz-pair-{key}-c{c}.json"))
                   for c in (32, 1) for key, name in (("echo", "bare echo"), ("p1", "P1 Send GET"))]:
    if g or b:
        cross.append({"what": what, "ghz": g,
                      "bench_load": {"rps": b["throughput"], "p50_us": b["latency_us"]["p50"],
                                     "p99_us": b["latency_us"]["p99"]} if b else None})
ghz_version = meta.get("ghz", "") + " (go install; its --version says " + (
    (raw / "ghz-version.txt").read_text().strip() if (raw / "ghz-version.txt").exists() else "?") + ")"


# ---- Markdown ----
def fmt(v, unit):
    if v is None:
        return "–"
    if isinstance(v, (tuple, list)):
        return " / ".join(fmt(x, "µs" if unit == "µs/µs" else "×") for x in v)
    if unit == "×":
        return f"{v:.2f}"
    if unit in ("MB", "ms", "KB"):
        return f"{v:.1f}"
    if unit == "µs":
        return f"{v:.0f}" if abs(v) >= 100 else f"{v:.1f}"
    return f"{v:,.0f}"


date = meta["stamp"][:10]
if meta.get("only"):  # a partial run never overwrites the day's full one
    date += "-" + meta["only"]
# Nor does a second run of the day overwrite the first (a committed results
# file is what a figure stands on): it gets -2, -3, ...
stem, n = date, 2
while (results / f"{date}.md").exists():
    date, n = f"{stem}-{n}", n + 1
lines = [f"# brokerside benchmarks, {meta['stamp']}", ""]
if meta.get("only"):
    lines += [f"A partial run (BENCH_ONLY={meta['only']}): only those figures ran; the others read "
              "\"did not run\".", ""]
lines += [
    f"Machine: {meta['cpus']} × {meta['cpu_model']}, Linux {meta['kernel']}; {meta['compiler']}; "
    f"gRPC {meta['grpc']}; {meta['redis']}; {meta.get('nats') or 'nats-server ?'}. Commit {meta['commit']}. Load average at start "
    f"{meta['loadavg_start']}, at end {meta.get('loadavg_end', '?')} (the machine is shared with "
    "other work, so absolute figures are noisy; ratios are taken run against run).",
    "",
    f"Each figure: median of {meta['reps']} repetitions (min – max); each run {meta['duration_s']} s "
    f"measured after {meta['warmup_s']} s of warm-up unless said otherwise. Payloads 64 B everywhere. "
    "**Only 2 cores**: the servers (brokerside with `server.threads=1`, the bare echo server) are "
    "pinned to core 0 and the load generators (bench_load, redis-benchmark, ghz, the Python apps) "
    "to core 1; redis-server and RabbitMQ are not pinned and share both cores with them. The same "
    "placement applies to a figure and its baseline. Latency percentiles of bench_load and the "
    "Python apps are exact (every sample kept, nearest rank); redis-benchmark's are its own (µs "
    "resolution). Server CPU and context switches per call come from /proc over the "
    "measured window (all threads of the server process).",
    "",
    "| | measure | median | min | max | target | met |",
    "|---|---|---:|---:|---:|---|---|",
]
for f in figures:
    s = f["spread"]
    met = {True: "**met**", False: "**MISSED**", None: ""}[f["met"]]
    unit = {"×": " ×", "µs/µs": " µs", "n/n": ""}.get(f["unit"], f" {f['unit']}")
    if s is None:
        lines.append(f"| {f['id']} | {f['what']} | did not run | | | {f['target'] or ''} | {met} |")
        continue
    lines.append(f"| {f['id']} | {f['what']} | {fmt(s['median'], f['unit'])}{unit} | "
                 f"{fmt(s['min'], f['unit'])} | {fmt(s['max'], f['unit'])} | {f['target'] or ''} | {met} |")
failed = []
for name in sorted(raw.glob("p*.json")):
    run = load_json(name.name)
    if run and run.get("errors"):
        failed.append(f"{name.stem}: {run['errors']} errors {json.dumps(run.get('error_detail', {}))}")
lines += ["", "Failed calls (not counted in throughput or latency): " +
          ("; ".join(failed) if failed else "none") + "."]
missed = [f for f in figures if f["met"] is False]
lines += ["", "Targets missed: " + (", ".join(f"{f['id']} ({f['what']})" for f in missed) if missed
                                    else "none") + "."]
if cross:
    lines += ["", "## Cross-check of bench_load against ghz", "",
              f"ghz {ghz_version or ''}: `-c 32` or `-c 1`, `--connections 1`, {meta['duration_s']} s, "
              "first 1,000 calls skipped; bench_load run right after it with the same concurrency on "
              "one connection. Both on core 1, one run each.", "",
              "| | ghz calls/s | ghz p50 µs | ghz p99 µs | bench_load calls/s | bench_load p50 µs | bench_load p99 µs |",
              "|---|---:|---:|---:|---:|---:|---:|"]
    for c in cross:
        g, b = c["ghz"] or {}, c["bench_load"] or {}
        lines.append(f"| {c['what']} | {fmt(g.get('rps'), '')} | {fmt(g.get('p50_us'), 'µs')} | "
                     f"{fmt(g.get('p99_us'), 'µs')} | {fmt(b.get('rps'), '')} | "
                     f"{fmt(b.get('p50_us'), 'µs')} | {fmt(b.get('p99_us'), 'µs')} |")
for name, title in (("profile-p1.txt", "P1 (Send GET, 32 in flight)"),
                    ("profile-p3.txt", "P3 (Send GET, 1 in flight)")):
    path = raw / name
    if path.exists() and path.read_text().strip():
        text = path.read_text().splitlines()
        lines += ["", f"## Profile of the sidecar under {title}", "",
                  "`perf record -F 1999 -g -p <brokerside>` for 5 s while bench_load runs; flat "
                  "(self) time by DSO, then by symbol (entries ≥ 1 %); libgrpc has no symbols:", "", "```"] + text[:40] + ["```"]
png_name = f"{date}.png"
if meta.get("only") in (None, "", "p1-3", "p1-3+p7"):  # the plot is of P1-P3
    lines += ["", f"Latency distributions of P1–P3 and their baselines: [{png_name}]({png_name}).", ""]
markdown = "\n".join(lines)


# ---- plot ----
def curve(run_list):
    """The percentile curve of the repetition with the median p50."""
    ok = [r for r in run_list if r]
    if not ok:
        return None
    ok.sort(key=lambda r: r["latency_us"]["p50"])
    return ok[len(ok) // 2]["latency_us"]["curve"]


png_written = False
try:
    if meta.get("only") not in (None, "", "p1-3", "p1-3+p7"):
        raise ImportError("a partial run")  # the plot is of P1-P3
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(16, 5))
    panels = [
        ("P1: unary, 32 in flight", [("brokerside Send GET", curve(p1)), ("bare gRPC echo", curve(echo_u32))]),
        ("P2: one stream, 50 in flight", [("brokerside SendStream SET", curve(p2)),
                                          ("bare gRPC echo stream", curve(echo_s50))]),
        ("P3: unary, 1 in flight", [("brokerside Send GET", curve(p3)), ("bare gRPC echo", curve(echo_u1))]),
    ]
    ticks = [50, 90, 99, 99.9, 99.99]
    for ax, (title, series) in zip(axes, panels):
        for label, points in series:
            if not points:
                continue
            xs = [-math.log10(1 - p / 100) for p, _ in points]
            ax.plot(xs, [v for _, v in points], label=label)
        if title.startswith("P3") and any(rb_c1):
            t = sorted((x for x in rb_c1 if x), key=lambda x: x["GET"]["p50_us"])[len([x for x in rb_c1 if x]) // 2]
            ax.plot([-math.log10(0.5), -math.log10(0.01)], [t["GET"]["p50_us"], t["GET"]["p99_us"]], "s--",
                    label="direct Redis GET (redis-benchmark -c 1: p50, p99)")
        ax.set_xticks([-math.log10(1 - p / 100) for p in ticks])
        ax.set_xticklabels([f"{p:g}" for p in ticks])
        ax.set_xlabel("percentile")
        ax.set_ylabel("latency (µs)")
        ax.set_yscale("log")
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"brokerside latency distributions, {meta['stamp']} (median repetition)")
    fig.tight_layout()
    results.mkdir(parents=True, exist_ok=True)
    fig.savefig(results / png_name, dpi=90)
    png_written = True
except ImportError as e:
    if not meta.get("only"):
        markdown += f"\n(no plot: {e})\n"


# ---- JSON ----
def slim(run):
    if run and "latency_us" in run:
        run = dict(run)
        run["latency_us"] = {k: v for k, v in run["latency_us"].items() if k != "curve"}
    return run


raw_runs = {}
for name in sorted(raw.glob("*.json")):
    if name.name.startswith(("meta", "ghz")):
        continue
    raw_runs[name.stem] = slim(load_json(name.name))
raw_runs["redis-benchmark-c1"] = rb_c1
raw_runs["redis-benchmark-c50"] = rb_c50
document = {"meta": meta, "figures": figures, "ghz_cross_check": cross, "ghz_version": ghz_version,
            "curves": {"p1": curve(p1), "echo_u32": curve(echo_u32), "p2": curve(p2),
                       "echo_s50": curve(echo_s50), "p3": curve(p3), "echo_u1": curve(echo_u1)},
            "runs": raw_runs}
results.mkdir(parents=True, exist_ok=True)
(results / f"{date}.json").write_text(json.dumps(document, indent=1) + "\n")
(results / f"{date}.md").write_text(markdown)
print(markdown)
print(f"wrote {results / (date + '.md')}, .json" + (", .png" if png_written else ""))
