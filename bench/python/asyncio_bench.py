#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# bench/python/asyncio_bench.py: the corio_bench workloads written with Python's
# asyncio, as a Python user would write them. One workload per process, so the
# peak RSS is the workload's own; prints one JSON object.
#
# Usage: asyncio_bench.py w1 N | w2 N | w3 | w4a N | w4b N INFLIGHT | w5 N
#   w1   N tasks return their index, gathered (two rounds): ns per task, peak RSS
#   w2   N tasks each sleep 100 ms, gathered: overhead over 100 ms, peak RSS
#   w3   the count demo's gather (3 tasks sleep 1 s): wall time of the gather
#   w4a  N sequential asyncio.to_thread calls of a trivial function: µs per call
#   w4b  N to_thread calls from INFLIGHT tasks: calls per second
#   w5   N hand-offs between two tasks through two asyncio.Queue(1): ns per hand-off
import asyncio
import json
import os
import resource
import sys
import time


def resident_kb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGESIZE") // 1024


START_KB = resident_kb()


def peak_rss_mb():
    return (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - START_KB) / 1024


async def index_task(i):
    return i


async def w1_round(n):
    start = time.perf_counter()
    results = await asyncio.gather(*(index_task(i) for i in range(n)))
    assert sum(results) == n * (n - 1) // 2
    return time.perf_counter() - start


async def w1(n):
    first = await w1_round(n)
    second = await w1_round(n)
    return {"ns_per_task_1st": first * 1e9 / n, "ns_per_task_2nd": second * 1e9 / n,
            "peak_rss_MB": peak_rss_mb()}


async def w2(n):
    start = time.perf_counter()
    await asyncio.gather(*(asyncio.sleep(0.1) for _ in range(n)))
    wall = time.perf_counter() - start
    return {"overhead_ms": (wall - 0.1) * 1e3, "peak_rss_MB": peak_rss_mb()}


async def count():
    await asyncio.sleep(1)


async def w3():
    start = time.perf_counter()
    await asyncio.gather(count(), count(), count())
    return {"gather_wall_s": time.perf_counter() - start}


def trivial_call(x):
    return x + 1


async def w4a(n):
    x = 0
    start = time.perf_counter()
    for _ in range(n):
        x = await asyncio.to_thread(trivial_call, x)
    return {"us_per_call": (time.perf_counter() - start) * 1e6 / n}


async def caller(calls):
    x = 0
    for _ in range(calls):
        x = await asyncio.to_thread(trivial_call, x)


async def w4b(n, inflight):
    start = time.perf_counter()
    await asyncio.gather(*(caller(n // inflight) for _ in range(inflight)))
    return {"calls_per_s": (n // inflight) * inflight / (time.perf_counter() - start)}


async def ping(out, inq, rounds):
    for i in range(rounds):
        await out.put(i)
        await inq.get()


async def pong(inq, out, rounds):
    for _ in range(rounds):
        await out.put(await inq.get())


async def w5(n):
    a, b = asyncio.Queue(1), asyncio.Queue(1)
    start = time.perf_counter()
    await asyncio.gather(ping(a, b, n // 2), pong(a, b, n // 2))
    return {"ns_per_handoff": (time.perf_counter() - start) * 1e9 / n}


def main():
    workload = sys.argv[1]
    args = [int(a) for a in sys.argv[2:]]
    result = asyncio.run({"w1": w1, "w2": w2, "w3": w3, "w4a": w4a, "w4b": w4b, "w5": w5}[workload](*args))
    result.update({"workload": workload, "args": args})
    print(json.dumps(result))


if __name__ == "__main__":
    main()
