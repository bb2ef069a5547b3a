"""On-device side of the benchmark: one fresh process per export."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgekit.benchmarks.profiles import DeviceProfile
from edgekit.benchmarks.stats import LatencyStats, downsample
from edgekit.runtime.errors import EdgekitError


class BenchmarkError(EdgekitError):
    """A measurement process failed."""


@dataclass(frozen=True)
class EdgeSettings:
    runs: int = 1000
    warmup: int = 100
    batch_sizes: tuple[int, ...] = (1, 32, 1024)
    throughput_seconds: float = 0.5
    timeout_s: float = 300.0


def first_row(test_csv: Path, features: list[str]) -> dict[str, Any]:
    """The first test row as a JSON-ready dict of features (strings; the runtime parses)."""
    from edgekit.runtime.io import CsvChunks

    chunks = CsvChunks(test_csv, size=1)
    header, rows = chunks.header, next(iter(chunks))
    chunks.close()
    values = dict(zip(header, rows[0]))
    return {name: (values[name] if values[name] != "" else None) for name in features}


WORKER = "edgekit.benchmarks.edge_worker"


def worker_args(model_path, test_csv, row: dict[str, Any], device: DeviceProfile, settings: EdgeSettings) -> list[str]:
    """The worker's arguments but ``--t0`` (here or on a remote device: paths are as given)."""
    args = ["--model", str(model_path), "--test", str(test_csv), "--row", json.dumps(row),
            "--runs", str(settings.runs), "--warmup", str(settings.warmup),
            "--batch-sizes", ",".join(str(b) for b in settings.batch_sizes),
            "--throughput-seconds", str(settings.throughput_seconds)]
    return args + device_args(device)


def device_args(device: DeviceProfile) -> list[str]:
    """A profile's backend threads and CPU affinity as worker arguments."""
    args = ["--threads", str(device.threads)] if device.threads else []
    return args + (["--cpus", ",".join(str(c) for c in device.cpus)] if device.cpus else [])


def measure_export(model_path: Path, test_csv: Path, features: list[str], device: DeviceProfile,
                   settings: EdgeSettings) -> dict[str, Any]:
    """Run the worker for one export in a fresh interpreter and return its measurements."""
    row = first_row(test_csv, features)
    command = [sys.executable, "-m", WORKER, *worker_args(model_path, test_csv, row, device, settings)]
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    command += ["--t0", repr(time.time())]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=settings.timeout_s, env=env)
    except subprocess.TimeoutExpired as exc:
        raise BenchmarkError(f"{model_path}: measurement timed out after {settings.timeout_s:.0f} s") from exc
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise BenchmarkError(f"{model_path}: measurement process failed: {tail}")
    raw = json.loads(done.stdout.strip().splitlines()[-1])
    return summarize(raw)


def summarize(raw: dict[str, Any]) -> dict[str, Any]:
    """Worker output -> the shared metric schema (ms, percentiles, rows/s)."""
    latency = raw.pop("latency_samples_ms")
    hot = raw.pop("hot_path_samples_ms")
    raw["latency_ms"] = LatencyStats.of(latency).to_dict()
    raw["latency_samples_ms"] = downsample(latency)
    raw["hot_path_latency_ms"] = LatencyStats.of(hot).to_dict() if hot else None
    return raw
