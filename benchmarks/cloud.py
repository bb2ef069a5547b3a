"""Cloud side of the benchmark: the source model behind ``edgekit serve``, driven over HTTP.

The server runs in its own process (started here, or any V2 endpoint via ``url``); the
load generator is an asyncio httpx client sending KServe V2 infer requests, one row each,
cycling through the test rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from edgekit.benchmarks.edge import BenchmarkError
from edgekit.benchmarks.stats import LatencyStats, downsample


@dataclass(frozen=True)
class CloudSettings:
    requests: int = 1000  # sequential requests for the concurrency-1 latency
    warmup: int = 50
    concurrency: tuple[int, ...] = (1, 8, 32)
    seconds: float = 5.0  # per throughput level
    startup_timeout_s: float = 180.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def running_server(bundle: Path, *, batching: bool = True, name: str = "model",
                   timeout_s: float = 180.0, extra: list[str] | None = None) -> Iterator[str]:
    """Start ``edgekit serve`` on a free loopback port; yield its base URL; stop it."""
    import httpx

    port = free_port()
    command = [sys.executable, "-m", "edgekit", "serve", str(bundle), "--host", "127.0.0.1", "--port", str(port),
               "--name", name, *([] if batching else ["--no-batching"]), *(extra or [])]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if process.poll() is not None:
                tail = (process.stderr.read().strip().splitlines() or ["no output"])[-1]
                raise BenchmarkError(f"edgekit serve exited with {process.returncode}: {tail}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/v2/health/ready", timeout=1.0).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise BenchmarkError(f"edgekit serve did not become ready within {timeout_s:.0f} s")
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def v2_bodies(rows: list[dict[str, Any]], schema) -> list[bytes]:
    """One KServe V2 infer body per row: one [1, 1] tensor per feature."""
    bodies = []
    for row in rows:
        inputs = []
        for f in schema:
            value = row[f.name]
            if f.is_string:
                inputs.append({"name": f.name, "shape": [1, 1], "datatype": "BYTES", "data": ["" if value is None else str(value)]})
            else:
                number = float("nan") if value in (None, "") else float(value)
                inputs.append({"name": f.name, "shape": [1, 1], "datatype": "FP32", "data": [None if number != number else number]})
        bodies.append(json.dumps({"inputs": inputs}).encode())
    return bodies


async def _latency(client, path: str, bodies: list[bytes], count: int) -> tuple[list[float], int, int]:
    samples, errors, response_bytes = [], 0, 0
    for i in range(count):
        started = time.perf_counter()
        response = await client.post(path, content=bodies[i % len(bodies)], headers={"content-type": "application/json"})
        samples.append((time.perf_counter() - started) * 1e3)
        response_bytes += len(response.content)
        errors += response.status_code != 200
    return samples, errors, response_bytes // max(count, 1)


async def _throughput(client, path: str, bodies: list[bytes], concurrency: int, seconds: float) -> dict[str, Any]:
    done = errors = 0
    deadline = time.perf_counter() + seconds

    async def worker(offset: int) -> None:
        nonlocal done, errors
        i = offset
        while time.perf_counter() < deadline:
            try:
                response = await client.post(path, content=bodies[i % len(bodies)], headers={"content-type": "application/json"})
                ok = response.status_code == 200
            except Exception:  # counted, never fatal: the benchmark reports errors
                ok = False
            done += ok
            errors += not ok
            i += concurrency

    started = time.perf_counter()
    await asyncio.gather(*(worker(k) for k in range(concurrency)))
    elapsed = time.perf_counter() - started
    return {"concurrency": concurrency, "rows_per_s": done / elapsed, "requests": done, "errors": errors, "seconds": elapsed}


async def _drive(url: str, model: str, bodies: list[bytes], settings: CloudSettings, levels: tuple[int, ...]) -> dict[str, Any]:
    import httpx

    path = f"/v2/models/{model}/infer"
    limits = httpx.Limits(max_connections=max(levels + (1,)), max_keepalive_connections=max(levels + (1,)))
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60.0) as client:
        await _latency(client, path, bodies, settings.warmup)
        samples, errors, response_bytes = await _latency(client, path, bodies, settings.requests)
        throughput = [await _throughput(client, path, bodies, c, settings.seconds) for c in levels]
    return {
        "latency_ms": LatencyStats.of(samples).to_dict(),
        "latency_samples_ms": downsample(samples),
        "throughput": throughput,
        "request_bytes": sum(len(b) for b in bodies) // len(bodies),
        "response_bytes": response_bytes,
        "errors": errors + sum(t["errors"] for t in throughput),
    }


def measure_cloud(url: str, model: str, rows: list[dict[str, Any]], schema, settings: CloudSettings,
                  levels: tuple[int, ...] | None = None) -> dict[str, Any]:
    bodies = v2_bodies(rows, schema)
    return asyncio.run(_drive(url, model, bodies, settings, levels if levels is not None else settings.concurrency))
