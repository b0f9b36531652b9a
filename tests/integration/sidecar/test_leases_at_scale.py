"""Leases on a target with few connections: waiters are served first come,
first served; beyond max_pending a request is refused at once with
RESOURCE_EXHAUSTED; a waiter not served within acquire_timeout gets
RESOURCE_EXHAUSTED too. At scale: 10,000 Acquire calls at once on a target
of 4 connections with max_pending 1,000 end exactly 4 granted, 1,000 waiting
(until acquire_timeout) and 8,996 refused at once, as Stats counts them."""

import asyncio
import time

import grpc
import pytest

from brokerside.v1 import brokerside_pb2 as pb
from brokerside.v1 import brokerside_pb2_grpc as pb_grpc


def pool_of(stub):
    target = stub.Stats(pb.StatsRequest(target="cache"), timeout=5).targets[0]
    return target.pool, target.counters


def test_waiters_are_served_in_order_and_refused_beyond_max_pending(sidecar, brokers):
    s = sidecar("--target", f"cache={brokers['BROKERSIDE_REDIS_URL']}", "--targets.cache.pool.max_connections=2",
                "--targets.cache.pool.max_pending=3", "--targets.cache.pool.acquire_timeout=30s")
    with s.channel() as channel:
        stub = pb_grpc.BrokerStub(channel)
        held = [stub.Acquire(pb.AcquireRequest(target="cache", ttl={"seconds": 60}), timeout=5).lease
                for _ in range(2)]
        waiting = []
        for _ in range(3):  # one after another, so their order is known
            waiting.append(stub.Acquire.future(pb.AcquireRequest(target="cache", ttl={"seconds": 60}), timeout=30))
            deadline = time.monotonic() + 5
            while pool_of(stub)[0].waiters < len(waiting) and time.monotonic() < deadline:
                time.sleep(0.02)
            assert pool_of(stub)[0].waiters == len(waiting)
        with pytest.raises(grpc.RpcError) as e:
            stub.Acquire(pb.AcquireRequest(target="cache"), timeout=5)
        assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "pool exhausted" in e.value.details()
        # Each release serves the oldest waiter, and only it.
        for k, lease in enumerate(held):
            stub.Release(pb.ReleaseRequest(lease=lease), timeout=5)
            deadline = time.monotonic() + 5
            while sum(f.done() for f in waiting) <= k and time.monotonic() < deadline:
                time.sleep(0.02)
            time.sleep(0.2)  # (a later waiter served wrongly would show by now)
            assert [f.done() for f in waiting] == [i <= k for i in range(3)]
        stub.Release(pb.ReleaseRequest(lease=waiting[0].result().lease), timeout=5)
        assert waiting[2].result(timeout=5).lease
        for f in waiting[1:]:
            stub.Release(pb.ReleaseRequest(lease=f.result().lease), timeout=5)
        pool, counters = pool_of(stub)
        assert pool.waiters == 0 and pool.leased == 0
        assert counters.pool_exhausted == 1 and counters.leases_acquired == 5


def test_ten_thousand_lease_requests_on_four_connections(sidecar, brokers):
    s = sidecar("--target", f"cache={brokers['BROKERSIDE_REDIS_URL']}", "--targets.cache.pool.max_connections=4",
                "--targets.cache.pool.max_pending=1000", "--targets.cache.pool.acquire_timeout=10s")
    rss_before = rss_kb(s.proc.pid)
    with s.channel() as channel:
        stub = pb_grpc.BrokerStub(channel)
        outcomes, rss_waiting = asyncio.run(acquire_all(s.address, stub, s.proc.pid))
        granted = [o for o in outcomes if isinstance(o, str)]
        codes = [o for o in outcomes if not isinstance(o, str)]
        assert len(granted) == 4
        assert codes.count(grpc.StatusCode.RESOURCE_EXHAUSTED) == 9996, set(codes)
        pool, counters = pool_of(stub)
        assert pool.waiters == 0 and pool.leased == 4
        # (Counted as pool_exhausted: the refusals at once; the 1,000 that
        # waited out acquire_timeout are not.)
        assert counters.pool_exhausted == 8996 and counters.leases_acquired == 4
        for lease in granted:
            stub.Release(pb.ReleaseRequest(lease=lease), timeout=5)
    print(f"\nRSS {rss_before} kB before, {rss_waiting} kB with 4 leases held and 1,000 waiting "
          f"({(rss_waiting - rss_before) / 1004:.1f} kB per lease or waiter, its Acquire call included)")


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


async def acquire_all(address, sync_stub, pid):
    """10,000 Acquire calls at once over 10 connections; checks, while the
    1,000 waiters wait, that exactly 8,996 were refused at once."""
    channels = [grpc.aio.insecure_channel(address, options=[("grpc.use_local_subchannel_pool", 1)])
                for _ in range(10)]
    stubs = [pb_grpc.BrokerStub(c) for c in channels]
    finished = 0

    async def one(i):
        nonlocal finished
        try:
            reply = await stubs[i % 10].Acquire(pb.AcquireRequest(target="cache", ttl={"seconds": 60}), timeout=30)
            return reply.lease
        except grpc.aio.AioRpcError as e:
            return e.code()
        finally:
            finished += 1

    tasks = [asyncio.create_task(one(i)) for i in range(10_000)]
    # The granted and the refused-at-once finish first; the waiters wait out
    # their acquire_timeout (10 s).
    deadline = time.monotonic() + 60
    while finished < 9000 and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    pool, counters = await asyncio.to_thread(pool_of, sync_stub)
    assert finished == 9000, finished
    assert (pool.waiters, pool.leased, counters.pool_exhausted) == (1000, 4, 8996)
    rss_waiting = rss_kb(pid)
    outcomes = await asyncio.gather(*tasks)
    for c in channels:
        await c.close()
    return outcomes, rss_waiting
