"""``run_files_bench``: any .tflite/.onnx files on-device, side by side, one metric schema.

Each file is measured by ``tensor_worker`` in its own fresh process under a device
profile. Several files give one comparison against a baseline (the first file that ran,
or ``baseline``): ratios of p50/p99 latency, throughput, size, peak RSS and cold start,
and, when two files got identical feeds, how far their dequantised outputs are apart.
A file that cannot be measured becomes a failed row with its reason; the others still
run. ``cloud`` adds the same feeds sent to ``edgekit serve FILE`` (tensor_cloud).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

import edgekit
from edgekit.benchmarks.cloud import CloudSettings
from edgekit.benchmarks.edge import EdgeSettings, device_args
from edgekit.benchmarks.profiles import DeviceProfile, get_device
from edgekit.benchmarks.stats import LatencyStats, downsample
from edgekit.console import progress
from edgekit.runtime.errors import ConfigError

SCHEMA_VERSION = 1
RATIO_KEYS = {  # comparison ratio -> where the value lives in a row
    "p50": ("latency_ms", "p50"), "p99": ("latency_ms", "p99"), "throughput": ("throughput_inferences_per_s",),
    "size": ("size_bytes",), "peak_rss": ("peak_rss_mb",), "cold_start": ("cold_start_ms",), "load": ("load_ms",),
}


@dataclass
class FileBenchOptions:
    profile: str = "desktop"
    threads: int | None = None  # overrides the profile's thread count
    runs: int | None = None
    quick: bool = False
    inputs: Path | None = None  # .npz of arrays named like the inputs
    inputs_per_file: dict[str, Path] = field(default_factory=dict)  # str(path) -> its own .npz (input names differ per file)
    shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    seed: int = 0
    signature: str | None = None
    baseline: str | None = None
    cloud: bool = False
    remote: Any = None  # remote_bench.DeviceOptions: also measure on a device over SSH
    local: bool = True  # measure on this machine too
    edge: EdgeSettings = field(default_factory=EdgeSettings)
    cloud_settings: CloudSettings = field(default_factory=CloudSettings)

    def resolved(self) -> "FileBenchOptions":
        from edgekit.benchmarks.api import resolve_settings

        if self.threads is not None and self.threads < 1:
            raise ConfigError("--threads must be at least 1")
        edge, cloud = resolve_settings(self.edge, self.cloud_settings, quick=self.quick, runs=self.runs)
        return replace(self, edge=edge, cloud_settings=cloud)

    def device(self) -> DeviceProfile:
        device = get_device(self.profile)
        return device if self.threads is None else replace(device, threads=self.threads)


def row_names(paths: Sequence[Path]) -> list[str]:
    """File names, with the parent folder added where two files share a name."""
    names = [p.name for p in paths]
    names = [f"{p.parent.name}/{p.name}" if names.count(p.name) > 1 else p.name for p in paths]
    return [n if names.count(n) == 1 else f"{n}#{i + 1}" for i, n in enumerate(names)]


def pick_baseline(paths: Sequence[Path], names: Sequence[str], wanted: str | None) -> str | None:
    """The row name ``wanted`` refers to (a row name, a file name or a path as given)."""
    if wanted is None:
        return None
    for path, name in zip(paths, names):
        if wanted in (name, path.name, str(path)) or Path(wanted) == path:
            return name
    raise ConfigError(f"--baseline {wanted!r} is none of the files benchmarked", hint=f"choose one of {list(names)}")


def measure_file(path: Path, device: DeviceProfile, settings: EdgeSettings, options: FileBenchOptions,
                 save: Path | None = None) -> dict[str, Any]:
    """One fresh worker process for ``path``: the measured row, or a failed row with its reason."""
    command = [sys.executable, "-m", WORKER, *worker_args(path, device, settings, options, save)]
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    command += ["--t0", repr(time.time())]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=settings.timeout_s, env=env)
    except subprocess.TimeoutExpired:
        return failed_row(path, f"measurement timed out after {settings.timeout_s:.0f} s", "BenchmarkError")
    return worker_row(path, done.returncode, done.stdout, done.stderr)


WORKER = "edgekit.benchmarks.tensor_worker"


def worker_args(path, device: DeviceProfile, settings: EdgeSettings, options: FileBenchOptions, save=None,
                inputs=None) -> list[str]:
    """The worker's arguments but ``--t0``; ``inputs`` replaces ``options.inputs`` (a path on a device)."""
    args = ["--model", str(path), "--runs", str(settings.runs), "--warmup", str(settings.warmup),
            "--batch-sizes", ",".join(str(b) for b in settings.batch_sizes),
            "--throughput-seconds", str(settings.throughput_seconds), "--seed", str(options.seed),
            "--shapes", json.dumps({k: list(v) for k, v in options.shapes.items()})]
    inputs = inputs if inputs is not None else options.inputs_per_file.get(str(path), options.inputs)
    if inputs is not None:
        args += ["--inputs", str(inputs)]
    if options.signature is not None:
        args += ["--signature", options.signature]
    args += device_args(device)
    if save is not None:
        args += ["--save", str(save)]
    return args


def worker_row(path: Path, returncode: int, stdout: str, stderr: str) -> dict[str, Any]:
    """A worker's exit status and output -> a measured row, or a failed row with its reason."""
    last = (stdout.strip().splitlines() or [""])[-1]
    try:
        raw = json.loads(last)
    except ValueError:
        raw = None
    if returncode != 0 or not isinstance(raw, dict) or "error" in raw:
        if isinstance(raw, dict) and "error" in raw:
            return failed_row(path, raw["error"], raw.get("error_type"))
        tail = (stderr.strip().splitlines() or [f"exit code {returncode}, no output"])[-1]
        return failed_row(path, f"measurement process failed: {tail}", "BenchmarkError")
    return summarize(path, raw)


def failed_row(path: Path, reason: str, error_type: str | None) -> dict[str, Any]:
    return {"name": path.name, "kind": "edge", "status": "failed", "path": str(path), "error": reason,
            "error_type": error_type}


def summarize(path: Path, raw: dict[str, Any]) -> dict[str, Any]:
    """Worker output -> a row of the shared metric schema (ms, percentiles, rows/s)."""
    latency = raw.pop("latency_samples_ms")
    validated = raw.pop("validated_samples_ms")
    return {"name": path.name, "kind": "edge", "status": "ok", "path": str(path), "error": None, **raw,
            "latency_ms": LatencyStats.of(latency).to_dict(), "latency_samples_ms": downsample(latency),
            "validated_latency_ms": LatencyStats.of(validated).to_dict()}


def agreement(base: dict[str, Any], other: dict[str, Any], saved: dict[str, Path]) -> dict[str, Any] | None:
    """Dequantised outputs of two rows fed identical inputs: max |difference| and, for
    [n, k] score outputs, the share of rows with the same argmax."""
    import numpy as np

    if base["feeds_sha256"] != other["feeds_sha256"] or base["name"] not in saved or other["name"] not in saved:
        return None
    with np.load(saved[base["name"]], allow_pickle=False) as a, np.load(saved[other["name"]], allow_pickle=False) as b:
        names = [k for k in a.files if k.startswith("output:")]
        if sorted(names) != sorted(k for k in b.files if k.startswith("output:")):
            return None
        diffs, argmax = [], []
        for key in names:
            x, y = a[key], b[key]
            if x.shape != y.shape or x.dtype.kind not in "fiub" or y.dtype.kind not in "fiub":
                return None
            if x.size:
                diffs.append(float(np.max(np.abs(x.astype(np.float64) - y.astype(np.float64)))))
            if x.ndim == 2 and x.shape[1] > 1:
                argmax.append(float(np.mean(x.argmax(axis=1) == y.argmax(axis=1))))
    return {"max_abs_diff": max(diffs) if diffs else 0.0, "argmax_agreement": min(argmax) if argmax else None,
            "rows": int(base.get("rows_per_inference") or 1)}


def _value(row: dict[str, Any], where: tuple[str, ...]) -> float | None:
    value: Any = row
    for key in where:
        value = value.get(key) if isinstance(value, dict) else None
    return float(value) if isinstance(value, (int, float)) else None


def compare_rows(rows: list[dict[str, Any]], baseline: str | None, saved: dict[str, Path]) -> dict[str, Any]:
    """Ratios of every measured row against the baseline row (value / baseline value)."""
    ok = [r for r in rows if r["status"] == "ok"]
    if not ok:
        return {"baseline": None, "note": "no file could be measured", "rows": []}
    note = None
    base = next((r for r in ok if r["name"] == baseline), None) if baseline else ok[0]
    if base is None:
        base = ok[0]
        note = f"the baseline {baseline} failed; ratios are against {base['name']}"
    elif baseline is None and rows[0]["status"] != "ok":
        note = f"the first file failed; ratios are against {base['name']}"
    out_rows = []
    for r in ok:
        ratios = {}
        for key, where in RATIO_KEYS.items():
            mine, theirs = _value(r, where), _value(base, where)
            ratios[key] = mine / theirs if mine is not None and theirs else None
        speedup = base["latency_ms"]["p50"] / r["latency_ms"]["p50"] if r["latency_ms"]["p50"] else None
        out_rows.append({"name": r["name"], "ratios": ratios, "speedup_p50": speedup,
                         "agreement": None if r is base else agreement(base, r, saved)})
    fastest = min(ok, key=lambda r: r["latency_ms"]["p50"])
    return {"baseline": base["name"], "note": note, "rows": out_rows, "fastest": fastest["name"],
            "rule": "ratio = file / baseline (p50, p99, size, peak RSS, cold start, load: lower is better; "
                    "throughput: higher is better); speedup_p50 = baseline p50 / file p50"}


def run_files_bench(paths: Sequence[str | os.PathLike], options: FileBenchOptions | None = None, *,
                    show_progress: bool | None = None) -> dict[str, Any]:
    options = (options or FileBenchOptions()).resolved()
    paths = [Path(p) for p in paths]
    if not paths:
        raise ConfigError("no model files to benchmark")
    names = row_names(paths)
    baseline = pick_baseline(paths, names, options.baseline)
    device = options.device()
    rows, saved, remote, remote_saved = [], {}, None, {}
    with tempfile.TemporaryDirectory(prefix="edgekit-bench-") as scratch, \
            progress("on-device", total=len(paths) if options.local else 0, show=show_progress) as bar:
        if options.remote is not None:  # first: an unreachable device fails before the local runs
            from edgekit.benchmarks.remote_bench import bench_files_on_device, compare_with_local

            remote, remote_saved = bench_files_on_device(options.remote, paths, names, options, Path(scratch), show_progress)
        for path, name in zip(paths, names) if options.local else ():
            bar.advance(0, description=f"on-device: {name} (fresh process)")
            save = Path(scratch) / f"{len(rows)}.npz"
            row = measure_file(path, device, options.edge, options, save=save)
            row["name"] = name
            if row["status"] == "ok":
                saved[name] = save
            rows.append(row)
            bar.advance()
        comparison = (compare_rows(rows, baseline, saved) if options.local
                      else {"baseline": None, "note": "this machine was not measured (--no-local)", "rows": []})
        if remote is not None:
            remote["comparison"] = compare_rows(remote["edge"], baseline, remote_saved)
            compare_with_local(remote, rows, saved, remote_saved)
        cloud = None
        if options.cloud:
            from edgekit.benchmarks.tensor_cloud import measure_files_cloud

            served = (rows, saved) if options.local else (remote["edge"], remote_saved)  # feeds for the requests
            cloud = measure_files_cloud(*served, options.cloud_settings, show_progress=show_progress)
            add_cloud_comparison(comparison if options.local else remote["comparison"], served[0], cloud)
    report = {
        "schema_version": SCHEMA_VERSION,
        "mode": "files",
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "edgekit_version": edgekit.__version__,
        "machine": {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count(),
                    "processor": platform.processor() or platform.machine()},
        "files": {"paths": [str(p) for p in paths], "inputs": str(options.inputs) if options.inputs else None,
                  "shapes": {k: list(v) for k, v in options.shapes.items()}, "seed": options.seed,
                  "signature": options.signature},
        "settings": {"quick": options.quick, "edge": options.edge.__dict__,
                     "cloud": options.cloud_settings.__dict__ if options.cloud else None},
        "profile": device.to_dict(),
        "units": {"latency": "ms", "throughput": "inferences/s and rows/s", "size": "bytes", "memory": "MB (peak RSS)"},
        "edge": rows,
        "cloud": cloud,
        "comparison": comparison,
        "failed": [r["name"] for r in rows if r["status"] != "ok"]
                  + [f"{c['name']} (cloud)" for c in cloud or [] if c["status"] != "ok"]
                  + [f"{name} (device)" for name in (remote or {}).get("failed", [])],
    }
    if remote is not None:
        report["device"] = remote
    return report


def add_cloud_comparison(comparison: dict[str, Any], rows: list[dict[str, Any]], cloud: list[dict[str, Any]]) -> None:
    """Per file: the same model on-device vs behind edgekit serve on loopback (p50 ratio)."""
    edge = {r["name"]: r for r in rows if r["status"] == "ok"}
    comparison["edge_vs_cloud"] = [
        {"name": c["name"], "edge_p50_ms": edge[c["name"]]["latency_ms"]["p50"], "cloud_p50_ms": c["latency_ms"]["p50"],
         "cloud_over_edge": c["latency_ms"]["p50"] / edge[c["name"]]["latency_ms"]["p50"]}
        for c in cloud if c.get("status") == "ok" and c["name"] in edge
    ]
