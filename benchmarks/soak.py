"""Soak test of ``edgekit serve``: a fixed request rate for minutes, errors and memory growth.

    python -m edgekit.benchmarks.soak BUNDLE --seconds 300 --rate 100

Starts the server in its own process on 127.0.0.1 (loopback only), sends KServe V2
requests open-loop at ``--rate`` per second (bounded: ``seconds * rate`` requests, then it
stops), samples the server's RSS every second, and prints errors, latency percentiles
(measured from each request's scheduled time, so a stalled server cannot hide behind
coordinated omission) and memory growth: the median RSS of the last 10% of the run
against the median of the first 10% after warm-up. Targets: zero errors, growth < 10%.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from pathlib import Path

from edgekit.benchmarks.http_load import Connection, Target
from edgekit.benchmarks.stats import LatencyStats


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


async def soak(url: str, model: str, bodies: list[bytes], pid: int, *, seconds: float, rate: float, connections: int) -> dict:
    target = Target.parse(url, f"/v2/models/{model}/infer")
    requests = [target.request(b) for b in bodies]
    pool: asyncio.Queue = asyncio.Queue()
    for _ in range(connections):
        pool.put_nowait(Connection(target))
    latencies, errors, memory = [], 0, []
    total = int(seconds * rate)
    start = time.perf_counter()

    async def one(i: int, scheduled: float) -> None:
        nonlocal errors
        connection = await pool.get()
        try:
            status, _ = await connection.send(requests[i % len(requests)])
        except (ConnectionError, OSError, asyncio.IncompleteReadError, ValueError):
            await connection.close()
            status = 0
        finally:
            pool.put_nowait(connection)
        latencies.append((time.perf_counter() - scheduled) * 1e3)
        errors += status != 200

    async def sample_memory() -> None:
        while time.perf_counter() - start < seconds:
            memory.append((time.perf_counter() - start, rss_mb(pid)))
            await asyncio.sleep(1.0)

    sampler = asyncio.create_task(sample_memory())
    tasks = []
    for i in range(total):
        scheduled = start + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i, scheduled)))
    await asyncio.gather(*tasks)
    await sampler
    while not pool.empty():
        await pool.get_nowait().close()
    tenth = max(1, len(memory) // 10)
    early = statistics.median(m for _, m in memory[tenth : 2 * tenth]) if len(memory) >= 3 else memory[0][1]
    late = statistics.median(m for _, m in memory[-tenth:])
    return {"requests": total, "errors": errors, "latency_ms": LatencyStats.of(latencies).to_dict(),
            "rss_early_mb": early, "rss_late_mb": late, "rss_growth_pct": 100 * (late - early) / early,
            "rss_samples": memory, "seconds": time.perf_counter() - start, "rate": rate}


def main(argv: list[str] | None = None) -> None:
    from edgekit.benchmarks.cloud import v2_bodies
    from edgekit.runtime.io import CsvChunks
    from edgekit.runtime.schema import Schema
    from edgekit.serve.launcher import serve_in_subprocess

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--rate", type=float, default=100.0, help="requests per second (open loop)")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args(argv)
    card = json.loads((args.bundle / "model_card.json").read_text())
    schema = Schema.from_dict(card["schema"])
    chunks = CsvChunks(args.bundle / "data" / "test.csv", size=1 << 30)
    header, rows = chunks.header, next(iter(chunks))
    bodies = v2_bodies([{f.name: r[header.index(f.name)] or None for f in schema} for r in rows], schema)
    with serve_in_subprocess(args.bundle, "--name", "model") as server:
        result = asyncio.run(soak(server.url, "model", bodies, server.process.pid, seconds=args.seconds,
                                  rate=args.rate, connections=args.connections))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    lat = result["latency_ms"]
    print(f"soak: {result['requests']} requests at {args.rate:g}/s for {result['seconds']:.0f} s: {result['errors']} errors; "
          f"latency p50 {lat['p50']:.2f} ms, p99 {lat['p99']:.2f} ms; server RSS {result['rss_early_mb']:.0f} → "
          f"{result['rss_late_mb']:.0f} MB ({result['rss_growth_pct']:+.1f}%, target < 10%)")


if __name__ == "__main__":
    main()
