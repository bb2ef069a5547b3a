"""Cloud side of the benchmark: the source model behind ``edgekit serve``, driven over HTTP.

The server runs in its own process (started here, or any V2 endpoint via ``url``); the
load generator (``http_load``) sends KServe V2 infer requests, one row each, cycling
through the test rows, over persistent connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from edgekit.benchmarks.edge import BenchmarkError
from edgekit.benchmarks.http_load import Target, closed_loop, timed_requests
from edgekit.benchmarks.stats import LatencyStats, downsample


@dataclass(frozen=True)
class CloudSettings:
    requests: int = 1000  # sequential requests for the concurrency-1 latency
    warmup: int = 50
    concurrency: tuple[int, ...] = (1, 8, 32)
    seconds: float = 5.0  # per throughput level
    startup_timeout_s: float = 180.0


@contextlib.contextmanager
def running_server(bundle: Path, *, batching: bool = True, name: str = "model",
                   timeout_s: float = 180.0, extra: list[str] | None = None) -> Iterator[str]:
    """Start ``edgekit serve`` in its own process on a free loopback port; yield its URL."""
    from edgekit.serve.launcher import serve_in_subprocess

    args = ["--name", name, *([] if batching else ["--no-batching"]), *(extra or [])]
    try:
        server = serve_in_subprocess(bundle, *args, timeout=timeout_s)
    except (RuntimeError, TimeoutError) as exc:
        raise BenchmarkError(f"edgekit serve did not start: {str(exc).strip().splitlines()[-1]}") from exc
    with server:
        yield server.url


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
                number = None if value in (None, "") else float(value)
                inputs.append({"name": f.name, "shape": [1, 1], "datatype": "FP32", "data": [number]})
        bodies.append(json.dumps({"inputs": inputs}).encode())
    return bodies


async def _drive(url: str, model: str, bodies: list[bytes], settings: CloudSettings, levels: tuple[int, ...]) -> dict[str, Any]:
    target = Target.parse(url, f"/v2/models/{model}/infer")
    requests = [target.request(b) for b in bodies]
    await timed_requests(target, requests, settings.warmup)
    samples, errors, response_bytes = await timed_requests(target, requests, settings.requests)
    throughput = [await closed_loop(target, requests, c, settings.seconds) for c in levels]
    return {
        "latency_ms": LatencyStats.of(samples).to_dict(),
        "latency_samples_ms": downsample(samples),
        "throughput": throughput,
        "request_bytes": sum(len(b) for b in bodies) // len(bodies),
        "response_bytes": response_bytes,
        "errors": errors + sum(t["errors"] for t in throughput),
        "client": "edgekit.benchmarks.http_load (asyncio keep-alive, one process)",
    }


def measure_cloud(url: str, model: str, rows: list[dict[str, Any]], schema, settings: CloudSettings,
                  levels: tuple[int, ...] | None = None) -> dict[str, Any]:
    bodies = v2_bodies(rows, schema)
    return asyncio.run(_drive(url, model, bodies, settings, levels if levels is not None else settings.concurrency))
